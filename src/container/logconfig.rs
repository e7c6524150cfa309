//! `--log-driver` and `--log-opt`: what a container's monitor keeps of its
//! output, as docker's `HostConfig.LogConfig` shows it.
//!
//! Theory of operation: rless has one log format, podman's k8s-file
//! ([`super::logs`]), which `logs`, `attach` and `start -a` read. The
//! drivers a user can name are the ones that fit it: `k8s-file` (the
//! default, podman's name), `json-file` (docker's default name; the file
//! is rless's own format all the same) and `none`. With `none`, `logs`
//! refuses as docker does, but the monitor still keeps a small log (one
//! file of 64 KiB), because `attach` and `start -a` read the container's
//! output from it; so it costs at most that much disk. Drivers that send
//! output elsewhere (journald, syslog, …) are refused, not silently
//! written to a file. Options: `max-size` (a docker size: `10m`) caps a
//! file, `max-file` is how many files are kept, the current one
//! included (docker's, default 1 there; rless keeps 2 by default: the
//! current file and `ctr.log.1`). Other options are refused naming the
//! ones there are.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The default size cap of one log file.
pub const DEFAULT_MAX_SIZE: u64 = 20 << 20;
/// How many files are kept by default: `ctr.log` and `ctr.log.1`.
pub const DEFAULT_MAX_FILES: u32 = 2;
/// The most files `max-file` may keep.
pub const MAX_FILES: u32 = 100;
/// What a `none` container's monitor keeps, for `attach` and `start -a`.
const NONE_MAX_SIZE: u64 = 64 << 10;
/// The smallest cap taken: below it each line would be a file.
const MIN_MAX_SIZE: u64 = 4 << 10;

/// docker's `LogConfig`: the driver and its options, as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub driver: String,
    pub config: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            driver: "k8s-file".into(),
            config: BTreeMap::new(),
        }
    }
}

impl LogConfig {
    /// From `--log-driver` (none given: the default) and the
    /// `--log-opt KEY=VALUE`s, checked.
    pub fn parse(driver: Option<&str>, opts: &[String]) -> Result<LogConfig, String> {
        let driver = driver.unwrap_or("k8s-file");
        if !matches!(driver, "k8s-file" | "json-file" | "none") {
            return Err(format!(
                "log driver {driver:?} is not supported: use k8s-file (the default), json-file or none"
            ));
        }
        let mut config = BTreeMap::new();
        for o in opts {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| format!("invalid --log-opt {o:?}: expected KEY=VALUE"))?;
            match k {
                "max-size" => {
                    let n = crate::runtime::cgroups::limits::parse_size(v)
                        .ok_or_else(|| format!("invalid --log-opt max-size={v}: use a size such as 10m"))?;
                    if n < MIN_MAX_SIZE {
                        return Err(format!("--log-opt max-size={v} is too small: at least 4k"));
                    }
                }
                "max-file" => match v.parse::<u32>() {
                    Ok(1..=MAX_FILES) => {}
                    _ => return Err(format!("invalid --log-opt max-file={v}: a number from 1 to 100")),
                },
                _ => {
                    return Err(format!(
                        "unknown log opt {k:?} for the {driver} log driver: rless takes max-size and max-file"
                    ))
                }
            }
            if driver == "none" {
                return Err(format!(
                    "--log-opt {k} cannot be used with --log-driver none"
                ));
            }
            config.insert(k.to_string(), v.to_string());
        }
        Ok(LogConfig {
            driver: driver.to_string(),
            config,
        })
    }

    /// Whether `logs` can show the output (not with `none`).
    pub fn readable(&self) -> bool {
        self.driver != "none"
    }

    /// The size cap of one file, and how many files are kept.
    pub fn limits(&self) -> (u64, u32) {
        if !self.readable() {
            return (NONE_MAX_SIZE, 1);
        }
        let size = self
            .config
            .get("max-size")
            .and_then(|v| crate::runtime::cgroups::limits::parse_size(v))
            .unwrap_or(DEFAULT_MAX_SIZE)
            .max(MIN_MAX_SIZE);
        let files = self
            .config
            .get("max-file")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_FILES)
            .clamp(1, MAX_FILES);
        (size, files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers_and_options() {
        let d = LogConfig::parse(None, &[]).unwrap();
        assert_eq!(d, LogConfig::default());
        assert_eq!(d.limits(), (DEFAULT_MAX_SIZE, 2));
        let j = LogConfig::parse(
            Some("json-file"),
            &["max-size=10m".into(), "max-file=3".into()],
        )
        .unwrap();
        assert_eq!(j.limits(), (10 << 20, 3));
        assert_eq!(
            serde_json::to_value(&j).unwrap(),
            serde_json::json!({"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}})
        );
        let n = LogConfig::parse(Some("none"), &[]).unwrap();
        assert!(!n.readable());
        assert_eq!(n.limits(), (NONE_MAX_SIZE, 1));
        for (driver, opts) in [
            (Some("journald"), vec![]),
            (None, vec!["max-size=1x".to_string()]),
            (None, vec!["max-size=1".to_string()]),
            (None, vec!["max-file=0".to_string()]),
            (None, vec!["compress=true".to_string()]),
            (None, vec!["max-size".to_string()]),
            (Some("none"), vec!["max-size=1m".to_string()]),
        ] {
            assert!(
                LogConfig::parse(driver, &opts).is_err(),
                "{driver:?} {opts:?}"
            );
        }
    }
}
