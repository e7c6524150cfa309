//! CDI device names (`VENDOR/CLASS=NAME`) and docker's `--gpus`, which
//! maps to `nvidia.com/gpu=…` names as podman 5 maps it.

use super::{CdiError, Registry};

/// The kind `--gpus` asks for.
pub const GPU_KIND: &str = "nvidia.com/gpu";

/// A parsed `VENDOR/CLASS=NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    pub vendor: String,
    pub class: String,
    pub device: String,
}

impl QualifiedName {
    pub fn kind(&self) -> String {
        format!("{}/{}", self.vendor, self.class)
    }
}

/// Whether a `--device` value is a CDI name rather than a host path:
/// `VENDOR/CLASS=NAME` (a path starts with '/').
pub fn is_qualified(s: &str) -> bool {
    !s.starts_with('/')
        && s.split_once('=')
            .is_some_and(|(kind, _)| kind.contains('/'))
}

fn alnum_ends(s: &str) -> bool {
    let ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    ok(s.chars().next()) && ok(s.chars().last())
}

/// A spec's `kind`: `VENDOR/CLASS`, the vendor a domain-like name
/// (letters, digits, `.`, `_`, `-`), the class letters, digits, `_`, `-`;
/// both start and end with a letter or digit.
pub(super) fn check_kind(kind: &str) -> Result<(), String> {
    let Some((vendor, class)) = kind.split_once('/') else {
        return Err(format!("kind {kind:?} is not VENDOR/CLASS"));
    };
    if !alnum_ends(vendor)
        || !vendor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!("kind {kind:?}: invalid vendor {vendor:?}"));
    }
    if !alnum_ends(class)
        || !class
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        return Err(format!("kind {kind:?}: invalid class {class:?}"));
    }
    Ok(())
}

/// A device name: letters, digits, `_`, `-`, `.`, `:`, starting and
/// ending with a letter or digit.
pub(super) fn check_device(name: &str) -> Result<(), String> {
    if !alnum_ends(name)
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err(format!("invalid device name {name:?}"));
    }
    Ok(())
}

/// Parses `VENDOR/CLASS=NAME`.
pub fn parse_name(name: &str) -> Result<QualifiedName, CdiError> {
    let err = |why: String| CdiError::Name {
        name: name.to_string(),
        why,
    };
    let (kind, device) = name
        .split_once('=')
        .ok_or_else(|| err("expected VENDOR/CLASS=NAME".into()))?;
    check_kind(kind).map_err(err)?;
    check_device(device).map_err(err)?;
    let (vendor, class) = kind.split_once('/').unwrap_or_default();
    Ok(QualifiedName {
        vendor: vendor.into(),
        class: class.into(),
        device: device.into(),
    })
}

/// docker's `--gpus all|N|count=N|device=ID[,ID…]` (quoted or not; the
/// `capabilities=` and `driver=` parts are read past) as CDI names of
/// `nvidia.com/gpu`: `all` is `nvidia.com/gpu=all`, a count the first N
/// devices the specs list (not `all`), `device=` each ID.
pub fn gpus_to_names(value: &str, reg: &Registry) -> Result<Vec<String>, CdiError> {
    let err = |why: String| CdiError::Gpus(value.to_string(), why);
    if !reg.has_kind(GPU_KIND) {
        return Err(err(format!(
            "no CDI spec for {GPU_KIND} in {}; generate one with `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`",
            reg.dirs_text()
        )));
    }
    let plain = value.replace(['"', '\''], "");
    let mut key = "";
    let mut names = Vec::new();
    let mut count: Option<&str> = None;
    for (i, token) in plain.split(',').map(str::trim).enumerate() {
        let (k, v) = match token.split_once('=') {
            Some((k, v)) => {
                key = k;
                (k, v)
            }
            None if i == 0 => ("count", token),
            // `device=0,1`: the ids after the first.
            None => (key, token),
        };
        match k {
            "count" => count = Some(v),
            "device" => names.extend(v.split(',').map(|id| format!("{GPU_KIND}={id}"))),
            "capabilities" | "driver" | "options" => {}
            other => return Err(err(format!("unknown option {other:?}"))),
        }
    }
    match count {
        None => {}
        Some("all") => names.push(format!("{GPU_KIND}=all")),
        Some(n) => {
            let n: usize = n
                .parse()
                .map_err(|_| err("expected all, a count or device=IDS".into()))?;
            let devices: Vec<String> = reg
                .devices_of(GPU_KIND)
                .into_iter()
                .filter(|d| d != "all")
                .collect();
            if n > devices.len() {
                return Err(err(format!(
                    "{n} GPUs asked for, the CDI specs list {}",
                    devices.len()
                )));
            }
            names.extend(devices[..n].iter().map(|d| format!("{GPU_KIND}={d}")));
        }
    }
    if names.is_empty() {
        return Err(err("no GPU asked for".into()));
    }
    Ok(names)
}
