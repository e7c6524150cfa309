//! A CDI spec file's fields (versions 0.3.0 to 0.8.0) and their checks.
//! Fields rless has no use for (`intelRdt`, `netDevices`, annotations)
//! are read past.

use super::CdiError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The spec versions understood.
const VERSIONS: &[&str] = &["0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0"];

/// The OCI hook points a CDI hook may name.
pub const HOOK_NAMES: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub cdi_version: String,
    pub kind: String,
    #[serde(default)]
    pub devices: Vec<Device>,
    #[serde(default)]
    pub container_edits: Option<Edits>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub name: String,
    #[serde(default)]
    pub container_edits: Edits,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Edits {
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub device_nodes: Vec<DeviceNode>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    #[serde(default)]
    pub hooks: Vec<Hook>,
    #[serde(default, rename = "additionalGIDs")]
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceNode {
    pub path: String,
    #[serde(default)]
    pub host_path: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub major: Option<i64>,
    #[serde(default)]
    pub minor: Option<i64>,
    #[serde(default)]
    pub permissions: Option<String>,
    #[serde(default)]
    pub file_mode: Option<u32>,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    pub host_path: String,
    pub container_path: String,
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// An OCI hook, as the spec names it; kept in the container's spec to run
/// at its start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    pub hook_name: String,
    pub path: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

impl Spec {
    /// Parses and checks one spec file's text (JSON for `*.json`, else
    /// YAML).
    pub fn parse(text: &str, path: &Path) -> Result<Spec, CdiError> {
        let bad = |why: String| CdiError::Malformed {
            path: path.to_path_buf(),
            why,
        };
        let one_line = |e: String| e.lines().next().unwrap_or_default().to_string();
        let spec: Spec = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(text).map_err(|e| bad(one_line(e.to_string())))?
        } else {
            serde_saphyr::from_str(text).map_err(|e| bad(one_line(e.to_string())))?
        };
        spec.check().map_err(bad)?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), String> {
        if !VERSIONS.contains(&self.cdi_version.as_str()) {
            return Err(format!(
                "cdiVersion {:?} is not one of {}",
                self.cdi_version,
                VERSIONS.join(", ")
            ));
        }
        super::names::check_kind(&self.kind)?;
        if self.devices.is_empty() {
            return Err("no devices".into());
        }
        for (i, d) in self.devices.iter().enumerate() {
            super::names::check_device(&d.name)?;
            if self.devices[..i].iter().any(|o| o.name == d.name) {
                return Err(format!("device {:?} is defined twice", d.name));
            }
            d.container_edits
                .check()
                .map_err(|e| format!("device {:?}: {e}", d.name))?;
        }
        if let Some(e) = &self.container_edits {
            e.check()?;
        }
        Ok(())
    }
}

impl Edits {
    fn check(&self) -> Result<(), String> {
        for e in &self.env {
            if e.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
                return Err(format!("env {e:?} is not KEY=VALUE"));
            }
        }
        for d in &self.device_nodes {
            if !d.path.starts_with('/') {
                return Err(format!("device node path {:?} is not absolute", d.path));
            }
            if d.host_path.as_deref().is_some_and(|h| !h.starts_with('/')) {
                return Err(format!(
                    "device node hostPath {:?} is not absolute",
                    d.host_path
                ));
            }
            if let Some(t) = d
                .kind
                .as_deref()
                .filter(|t| !matches!(*t, "b" | "c" | "u" | "p"))
            {
                return Err(format!(
                    "device node {}: type {t:?} is not b, c, u or p",
                    d.path
                ));
            }
            if let Some(p) = d.permissions.as_deref() {
                if !p.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
                    return Err(format!(
                        "device node {}: permissions {p:?} is not rwm",
                        d.path
                    ));
                }
            }
        }
        for m in &self.mounts {
            if !m.container_path.starts_with('/') || !m.host_path.starts_with('/') {
                return Err(format!(
                    "mount {} → {}: both paths must be absolute",
                    m.host_path, m.container_path
                ));
            }
        }
        for h in &self.hooks {
            if !HOOK_NAMES.contains(&h.hook_name.as_str()) {
                return Err(format!(
                    "hook {}: unknown hookName {:?}",
                    h.path, h.hook_name
                ));
            }
            if !h.path.starts_with('/') {
                return Err(format!("hook path {:?} is not absolute", h.path));
            }
        }
        Ok(())
    }
}
