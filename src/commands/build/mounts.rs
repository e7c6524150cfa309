//! BuildKit's RUN flags: `RUN --mount=type=cache|bind|tmpfs|secret,…` and
//! `RUN --network=default|none|host`, and `build --secret`.
//!
//! Theory of operation: this module reads the flags ([`parse`]) and
//! checks every RUN's before the build starts ([`check`]; a value that
//! holds a variable is read again, expanded, when its step runs); what a
//! step does with them is in [`super::run_mounts`]. Each mount becomes a
//! `--mount` option of the step's `rless run`, so it is there for that
//! step only and its target, when the image lacked it, is a bare mount
//! point that `commit` leaves out of the layer:
//!
//! - `cache`: a directory kept in the store, `STORE/build-mounts/cache/K`
//!   (K: the digest of its id, by default its target), made on first use
//!   with its uid, gid and mode, beside a lock file `K.lock` that a step
//!   using it holds (shared; `sharing=locked`: exclusive, so concurrent
//!   builds take turns; `sharing=private`: exclusive if free, else a fresh
//!   directory for this step alone). `rless system prune` removes those no
//!   build holds ([`prune`]).
//! - `bind`: a copy of the source (the build context's, as COPY sends it,
//!   `.dockerignore` applied; or a stage's or image's files) in the step's
//!   scratch directory, read-only unless `rw`, so that writes are dropped.
//! - `tmpfs`: a tmpfs.
//! - `secret`: the secret (`build --secret`) written to a file of the
//!   step's scratch directory, bound read-only (default
//!   `/run/secrets/ID`, mode 0400). Its value is in no argument, layer,
//!   history or cache key.

use super::parse::Instruction;
use std::path::{Path, PathBuf};

/// One `--mount` of a RUN.
#[derive(Debug, Clone, PartialEq)]
pub enum Mount {
    Cache {
        target: String,
        id: Option<String>,
        sharing: Sharing,
        owner: Owner,
        readonly: bool,
    },
    Bind {
        target: String,
        /// Relative to the context root, or to the root of `from`.
        source: String,
        from: Option<String>,
        rw: bool,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
    Secret {
        id: String,
        target: Option<String>,
        required: bool,
        owner: Owner,
        /// `env=NAME`: the value in that variable of the step's process
        /// (and, only when `target` is given, in a file as well).
        env: Option<String>,
    },
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// The uid, gid and mode of a cache directory or secret file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Why a `--mount`, `--network` or `--secret` cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MountError {
    #[error("--mount={spec}: {why}")]
    Mount { spec: String, why: String },
    #[error("--network={0}: use default, none or host")]
    Network(String),
    #[error("--secret {spec}: {why}")]
    Secret { spec: String, why: String },
}

fn bad(spec: &str, why: impl Into<String>) -> MountError {
    MountError::Mount {
        spec: spec.to_string(),
        why: why.into(),
    }
}

/// A boolean option: bare, or `=true|false` (and 1|0).
fn boolean(spec: &str, key: &str, v: Option<&str>) -> Result<bool, MountError> {
    match v {
        None | Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(o) => Err(bad(spec, format!("{key}={o}: use true or false"))),
    }
}

fn number(spec: &str, key: &str, v: Option<&str>, radix: u32) -> Result<u32, MountError> {
    v.and_then(|v| u32::from_str_radix(v, radix).ok())
        .filter(|n| radix != 8 || *n <= 0o7777)
        .ok_or_else(|| {
            let what = if radix == 8 {
                "an octal mode such as 0755"
            } else {
                "a number"
            };
            bad(spec, format!("{key} needs {what}"))
        })
}

/// A tmpfs size: bytes, or with a k, m or g suffix (binary units).
fn size(spec: &str, v: Option<&str>) -> Result<u64, MountError> {
    let v = v.unwrap_or("");
    let (digits, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => v.split_at(i),
        None => (v, ""),
    };
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad(spec, format!("size={v}: use bytes or k, m, g"))),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|d| d.checked_mul(mult))
        .filter(|s| *s > 0)
        .ok_or_else(|| bad(spec, format!("size={v}: use bytes or k, m, g")))
}

/// One `--mount` value, variables already expanded (or not: [`check`]
/// reads the value as written, for its keys).
pub fn parse(spec: &str) -> Result<Mount, MountError> {
    let mut kind = None;
    let mut target = None;
    let (mut id, mut source, mut from) = (None, None, None);
    let (mut readonly, mut rw, mut required) = (None, false, false);
    let mut sharing = Sharing::Shared;
    let (mut uid, mut gid, mut mode) = (None, None, None);
    let mut tmpfs_size = None;
    let mut env = None;
    let mut keys: Vec<String> = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v)),
            None => (field.trim(), None),
        };
        let k = k.to_ascii_lowercase();
        let key = match k.as_str() {
            "dst" | "destination" => "target",
            "src" => "source",
            "readwrite" => "rw",
            "readonly" => "ro",
            k => k,
        };
        let value = || v.filter(|v| !v.is_empty()).map(str::to_string);
        let needs = || bad(spec, format!("{k} needs a value"));
        match key {
            "type" => kind = Some(value().ok_or_else(needs)?),
            "target" => target = Some(value().ok_or_else(needs)?),
            "source" => source = Some(value().ok_or_else(needs)?),
            "id" => id = Some(value().ok_or_else(needs)?),
            "from" => from = Some(value().ok_or_else(needs)?),
            "ro" => readonly = Some(boolean(spec, &k, v)?),
            "rw" => rw = boolean(spec, &k, v)?,
            "required" => required = boolean(spec, &k, v)?,
            "sharing" => {
                sharing = match v {
                    Some("shared") => Sharing::Shared,
                    Some("private") => Sharing::Private,
                    Some("locked") => Sharing::Locked,
                    _ => return Err(bad(spec, "sharing needs shared, private or locked")),
                }
            }
            "uid" => uid = Some(number(spec, &k, v, 10)?),
            "gid" => gid = Some(number(spec, &k, v, 10)?),
            "mode" => mode = Some(number(spec, &k, v, 8)?),
            "size" => tmpfs_size = Some(size(spec, v)?),
            // A secret's variable (BuildKit's): the value goes to the
            // step's process alone, never to an argument or its config.
            "env" => {
                let name = value().ok_or_else(needs)?;
                if name.contains(['=', '\0']) {
                    return Err(bad(spec, format!("env={name}: not a variable name")));
                }
                env = Some(name);
            }
            _ => return Err(bad(spec, format!("unknown option {k:?}"))),
        }
        if keys.iter().any(|k| k == key) {
            return Err(bad(spec, format!("{key} given twice")));
        }
        keys.push(key.to_string());
    }
    let kind = kind.unwrap_or_else(|| "bind".into());
    // The options each type takes, as BuildKit's.
    let allowed: &[&str] = match kind.as_str() {
        "cache" => &[
            "type", "target", "id", "sharing", "uid", "gid", "mode", "ro", "from", "source",
        ],
        "bind" => &["type", "target", "source", "from", "rw", "ro"],
        "tmpfs" => &["type", "target", "size"],
        "secret" => &[
            "type", "target", "id", "required", "uid", "gid", "mode", "env",
        ],
        "ssh" => return Err(bad(spec, "type=ssh is not supported")),
        other => {
            return Err(bad(
                spec,
                format!("unknown type {other:?}: use cache, bind, tmpfs or secret"),
            ))
        }
    };
    if let Some(k) = keys.iter().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(spec, format!("type={kind} takes no {k} option")));
    }
    if let Some(t) = &target {
        if t.contains(',') {
            return Err(bad(spec, "a target with a comma is not supported"));
        }
    }
    let given = target.clone();
    let target = || given.clone().ok_or_else(|| bad(spec, "missing target"));
    let owner = |default_mode| Owner {
        uid: uid.unwrap_or(0),
        gid: gid.unwrap_or(0),
        mode: mode.unwrap_or(default_mode),
    };
    Ok(match kind.as_str() {
        "cache" => {
            if from.is_some() || source.is_some() {
                return Err(bad(
                    spec,
                    "a cache mount's from= and source= are not supported",
                ));
            }
            Mount::Cache {
                target: target()?,
                id,
                sharing,
                owner: owner(0o755),
                readonly: readonly.unwrap_or(false),
            }
        }
        "bind" => {
            if rw && readonly == Some(true) {
                return Err(bad(spec, "rw and ro both given"));
            }
            Mount::Bind {
                target: target()?,
                source: source.unwrap_or_else(|| ".".into()),
                from,
                rw,
            }
        }
        "tmpfs" => Mount::Tmpfs {
            target: target()?,
            size: tmpfs_size,
        },
        _ => {
            // A secret's id defaults to its target's last component, else
            // to its variable's name.
            let id = match (id, &given, &env) {
                (Some(i), _, _) => i,
                (None, Some(t), _) => t.rsplit('/').next().unwrap_or("").to_string(),
                (None, None, Some(e)) => e.clone(),
                (None, None, None) => String::new(),
            };
            if id.is_empty() {
                return Err(bad(spec, "a secret needs an id (or a target)"));
            }
            Mount::Secret {
                id,
                target: given.clone(),
                required,
                owner: owner(0o400),
                env,
            }
        }
    })
}

/// `RUN --network=…`: `None` for the build's own network, else the
/// `rless run --network` value.
pub fn network(value: &str) -> Result<Option<String>, MountError> {
    match value {
        "default" => Ok(None),
        "none" | "host" => Ok(Some(value.to_string())),
        other => Err(MountError::Network(other.to_string())),
    }
}

/// The flags every RUN takes (the rest are refused by `check`).
pub const RUN_FLAGS: [&str; 2] = ["mount", "network"];

/// Every RUN's `--mount` and `--network`, before anything runs: one line
/// naming the file and line for the first that is wrong.
pub fn check(file: &str, all: &[Instruction]) -> Result<(), String> {
    // The stages' names, for `from=`.
    let names: Vec<Option<String>> = all
        .iter()
        .filter(|i| i.keyword == "FROM")
        .map(
            |i| match i.rest.split_whitespace().collect::<Vec<_>>()[..] {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
                _ => None,
            },
        )
        .collect();
    let mut stage = 0;
    for ins in all {
        if ins.keyword == "FROM" {
            stage += 1;
        }
        if ins.keyword != "RUN" {
            continue;
        }
        let at = |e: MountError| format!("{file}: line {}: RUN {e}", ins.line);
        let mut targets = Vec::new();
        for (k, v) in &ins.flags {
            match k.as_str() {
                "mount" => {
                    let m = parse(v).map_err(at)?;
                    if let Mount::Bind {
                        from: None, source, ..
                    } = &m
                    {
                        if super::context::clean(source).is_none() {
                            return Err(at(bad(
                                v,
                                format!("source={source}: outside the build context"),
                            )));
                        }
                    }
                    if let Mount::Bind { from: Some(f), .. } = &m {
                        if !f.contains('$') {
                            super::stages::resolve(&names, stage.max(1) - 1, f)
                                .map_err(|why| at(bad(v, format!("from={f} {why}"))))?;
                        }
                    }
                    let t = match &m {
                        Mount::Cache { target, .. }
                        | Mount::Bind { target, .. }
                        | Mount::Tmpfs { target, .. } => Some(target.clone()),
                        Mount::Secret { target, .. } => target.clone(),
                    };
                    if let Some(t) = t.filter(|t| !t.contains('$')) {
                        let clean = clean_target(&t);
                        if targets.contains(&clean) {
                            return Err(at(bad(v, format!("{t}: another mount has this target"))));
                        }
                        targets.push(clean);
                    }
                }
                "network" if !v.contains('$') => {
                    network(v).map_err(at)?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// `t` without `.`, `..` and doubled slashes, to compare targets.
fn clean_target(t: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in t.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!(
        "{}{}",
        if t.starts_with('/') { "/" } else { "" },
        parts.join("/")
    )
}

/// The stages or images a RUN's bind mounts name with `from=` (as
/// written), for [`super::stages`].
pub fn from_values(ins: &Instruction) -> Vec<String> {
    if ins.keyword != "RUN" {
        return Vec::new();
    }
    ins.flags
        .iter()
        .filter(|(k, _)| k == "mount")
        .filter_map(|(_, v)| match parse(v) {
            Ok(Mount::Bind { from, .. }) => from,
            _ => None,
        })
        .collect()
}

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

/// `build --secret id=ID[,src=FILE|,env=VAR][,type=file|env]`, docker's:
/// without a source, the variable ID if it is set, else the file ID.
pub fn parse_secret(spec: &str) -> Result<(String, SecretSource), MountError> {
    let err = |why: &str| MountError::Secret {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let Some((k, v)) = field.split_once('=') else {
            return Err(err("use id=ID,src=FILE or id=ID,env=VARIABLE"));
        };
        match k {
            "id" => id = Some(v.to_string()),
            "src" | "source" => src = Some(v.to_string()),
            "env" => env = Some(v.to_string()),
            "type" if v == "file" || v == "env" => kind = Some(v.to_string()),
            "type" => return Err(err("type must be file or env")),
            _ => return Err(err(&format!("unknown field {k:?}"))),
        }
    }
    let id = id
        .filter(|i| !i.is_empty())
        .ok_or_else(|| err("missing id"))?;
    if id.contains(['/', '\0']) || id == "." || id == ".." {
        return Err(err("an id cannot hold a '/'"));
    }
    let source = match (kind.as_deref(), src, env) {
        (_, Some(_), Some(_)) => return Err(err("give src or env, not both")),
        (Some("env"), src, env) => SecretSource::Env(env.or(src).unwrap_or_else(|| id.clone())),
        (_, None, Some(e)) => SecretSource::Env(e),
        (Some("file"), s, None) => SecretSource::File(s.unwrap_or_else(|| id.clone()).into()),
        (_, Some(s), None) => SecretSource::File(s.into()),
        (_, None, None) if std::env::var_os(&id).is_some() => SecretSource::Env(id.clone()),
        (_, None, None) => SecretSource::File(id.clone().into()),
    };
    if let SecretSource::File(f) = &source {
        if !f.is_file() {
            return Err(err(&format!("{}: no such file", f.display())));
        }
    }
    Ok((id, source))
}

/// The store's directory of cache mounts.
pub fn cache_dir(root: &Path) -> PathBuf {
    root.join("build-mounts").join("cache")
}

/// The store's directory of the steps' scratch directories.
pub fn scratch_dir(root: &Path) -> PathBuf {
    root.join("build-mounts").join("tmp")
}

/// For `system prune`, in the user namespace: removes every cache mount
/// no build holds (its lock is taken exclusive while it goes), and the
/// scratch directories of builds that are gone; the cache ids removed and
/// the bytes freed.
pub fn prune(root: &Path) -> (Vec<String>, u64, usize) {
    let (mut removed, mut freed, mut errors) = (Vec::new(), 0, 0);
    let dir = cache_dir(root);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    for n in &names {
        if n.starts_with(".tmp-") {
            // A cache directory being made by a build that is gone.
            let pid = n.split('-').nth(2).and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
                let _ = rless::image::store::remove_tree(&dir.join(n));
            }
            continue;
        }
        if n.contains('.') {
            continue;
        }
        let lock = dir.join(format!("{n}.lock"));
        // A build takes the lock before it makes the directory.
        let Ok(f) = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
        else {
            errors += 1;
            continue;
        };
        if f.try_lock().is_err() {
            continue;
        }
        let size = tree_size(&dir.join(n));
        match rless::image::store::remove_tree(&dir.join(n)) {
            Ok(()) => {
                // The lock file stays: a build may be waiting on it.
                freed += size;
                removed.push(n.clone());
            }
            Err(_) => errors += 1,
        }
    }
    sweep_scratch(root);
    (removed, freed, errors)
}

/// Removes the scratch directories (`PID-…`) of builds that are gone.
pub fn sweep_scratch(root: &Path) {
    sweep_pid_dirs(&scratch_dir(root));
}

/// The user's runtime directory's (not the store's) directory of the
/// steps' secret files: `$XDG_RUNTIME_DIR/rless/build-secrets`, or under
/// `/tmp/rless-run-UID`.
pub const SECRETS_DIR: &str = "build-secrets";

/// Removes the secret directories (`PID-…`) of builds that are gone
/// (killed outright); the directory is checked as a runtime directory
/// before anything in it is removed, and not made when missing.
pub fn sweep_secrets() {
    if rless::network::user_runtime_path(SECRETS_DIR).is_dir() {
        if let Ok(dir) = rless::network::prepare_user_runtime_dir(SECRETS_DIR) {
            sweep_pid_dirs(&dir);
        }
    }
}

/// Removes the entries `PID-…` of `dir` whose process is gone.
fn sweep_pid_dirs(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = rless::image::store::remove_tree(&e.path());
        }
    }
}

/// The bytes of the files below `p`.
fn tree_size(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !m.is_dir() {
        return m.size();
    }
    std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| tree_size(&e.path()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_type() {
        assert_eq!(
            parse("type=cache,target=/root/.cache,sharing=locked,uid=1000,mode=0700"),
            Ok(Mount::Cache {
                target: "/root/.cache".into(),
                id: None,
                sharing: Sharing::Locked,
                owner: Owner {
                    uid: 1000,
                    gid: 0,
                    mode: 0o700
                },
                readonly: false,
            })
        );
        assert_eq!(
            parse("target=/src"),
            Ok(Mount::Bind {
                target: "/src".into(),
                source: ".".into(),
                from: None,
                rw: false
            })
        );
        assert_eq!(
            parse("type=bind,src=a,dst=/a,from=build,rw"),
            Ok(Mount::Bind {
                target: "/a".into(),
                source: "a".into(),
                from: Some("build".into()),
                rw: true
            })
        );
        assert_eq!(
            parse("type=tmpfs,target=/t,size=2m"),
            Ok(Mount::Tmpfs {
                target: "/t".into(),
                size: Some(2 << 20)
            })
        );
        assert_eq!(
            parse("type=secret,id=tok,required"),
            Ok(Mount::Secret {
                id: "tok".into(),
                target: None,
                required: true,
                owner: Owner {
                    uid: 0,
                    gid: 0,
                    mode: 0o400
                },
                env: None,
            })
        );
        assert!(matches!(
            parse("type=secret,env=TOKEN"),
            Ok(Mount::Secret { id, target: None, env: Some(e), .. }) if id == "TOKEN" && e == "TOKEN"
        ));
    }

    #[test]
    fn refuses_bad_input() {
        for (spec, why) in [
            ("type=nfs,target=/a", "unknown type"),
            ("type=cache", "missing target"),
            ("type=cache,target=/a,colour=red", "unknown option"),
            ("type=tmpfs,target=/a,source=x", "takes no source"),
            ("type=cache,target=/a,sharing=sometimes", "sharing needs"),
            ("type=cache,target=/a,mode=999", "octal mode"),
            ("type=tmpfs,target=/a,size=lots", "size=lots"),
            ("type=secret", "needs an id"),
            ("type=bind,target=/a,target=/b", "given twice"),
            ("type=bind,target=/a,rw,ro", "rw and ro"),
            ("type=secret,id=a,env=A=B", "not a variable name"),
        ] {
            let e = parse(spec).expect_err(spec).to_string();
            assert!(e.contains(why), "{spec}: {e}");
        }
    }

    #[test]
    fn check_names_the_line() {
        let ins = |flags: &[(&str, &str)]| Instruction {
            line: 3,
            keyword: "RUN".into(),
            flags: flags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            rest: "true".into(),
            heredocs: vec![],
            escape: '\\',
            written: None,
        };
        let e = check("Dockerfile", &[ins(&[("mount", "type=tmpfs")])]).unwrap_err();
        assert_eq!(
            e,
            "Dockerfile: line 3: RUN --mount=type=tmpfs: missing target"
        );
        let e = check("Dockerfile", &[ins(&[("network", "bridge")])]).unwrap_err();
        assert!(e.contains("line 3: RUN --network=bridge"), "{e}");
        let two = [
            ("mount", "type=tmpfs,target=/a"),
            ("mount", "type=cache,target=/a/"),
        ];
        assert!(check("D", &[ins(&two)]).is_err());
        assert!(check("D", &[ins(&[("network", "none"), ("mount", "target=/x")])]).is_ok());
        let from = |rest: &str| Instruction {
            line: 1,
            keyword: "FROM".into(),
            flags: vec![],
            rest: rest.into(),
            heredocs: vec![],
            escape: '\\',
            written: None,
        };
        let bind = |f: &str| ins(&[("mount", f)]);
        let file = |f: &str| vec![from("bb AS one"), bind(f), from("bb AS two")];
        let e = check("D", &file("target=/x,from=two")).unwrap_err();
        assert!(e.contains("from=two names a later stage"), "{e}");
        let e = check("D", &file("target=/x,from=one")).unwrap_err();
        assert!(e.contains("names this stage"), "{e}");
        let e = check("D", &file("target=/x,from=7")).unwrap_err();
        assert!(e.contains("no stage 7"), "{e}");
        assert!(check("D", &file("target=/x,from=someimage")).is_ok());
        let e = check("D", &file("target=/x,source=a/../../b")).unwrap_err();
        assert!(e.contains("outside the build context"), "{e}");
    }

    #[test]
    fn secret_sources() {
        assert_eq!(
            parse_secret("id=a,env=HOME"),
            Ok(("a".into(), SecretSource::Env("HOME".into())))
        );
        assert_eq!(
            parse_secret("type=env,id=HOME"),
            Ok(("HOME".into(), SecretSource::Env("HOME".into())))
        );
        assert_eq!(
            parse_secret("id=a,src=/etc/hostname"),
            Ok(("a".into(), SecretSource::File("/etc/hostname".into())))
        );
        assert!(parse_secret("id=a,src=/no/such/file").is_err());
        assert!(parse_secret("src=/etc/hostname").is_err());
        assert!(parse_secret("id=a/b,env=HOME").is_err());
    }
}
