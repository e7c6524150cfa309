//! Platforms (`os/arch[/variant]`) and choosing one from a manifest list.

use std::fmt;

/// A target platform, in OCI's spelling (`linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/arm64")]
pub struct BadPlatform(pub String);

impl Platform {
    /// The platform this binary runs on.
    pub fn host() -> Platform {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            arch: arch.into(),
            variant: variant.map(Into::into),
        }
    }

    /// podman's `--os`, `--arch` and `--variant` as one platform (the host's
    /// OS and architecture for those not given); `None` when none is.
    pub fn from_parts(
        os: Option<&str>,
        arch: Option<&str>,
        variant: Option<&str>,
    ) -> Result<Option<Platform>, BadPlatform> {
        if os.is_none() && arch.is_none() && variant.is_none() {
            return Ok(None);
        }
        let host = Platform::host();
        let os = os.unwrap_or(&host.os);
        let arch = arch.unwrap_or(&host.arch);
        let text = match variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        };
        Platform::parse(&text).map(Some)
    }

    pub fn parse(s: &str) -> Result<Platform, BadPlatform> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        match parts[..] {
            [os, arch] if ok(&os) && ok(&arch) => Ok(Platform {
                os: os.into(),
                arch: arch.into(),
                variant: None,
            }),
            [os, arch, v] if ok(&os) && ok(&arch) && ok(&v) => Ok(Platform {
                os: os.into(),
                arch: arch.into(),
                variant: Some(v.into()),
            }),
            _ => Err(BadPlatform(s.into())),
        }
    }

    /// Whether a manifest list entry for (`os`, `arch`, `variant`) serves this
    /// platform. A missing variant on either side matches, except that an
    /// explicit variant never matches a different one.
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.arch == arch
            && match (self.variant.as_deref(), variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(!p.matches("linux", "amd64", None));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(!v7.matches("linux", "arm", Some("v6")));
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//x").is_err());
        assert_eq!(v7.to_string(), "linux/arm/v7");
    }
}
