//! The exit status of the removal commands: `rm`, `rmi`, `volume rm` and
//! `network rm` and `pod rm`.
//!
//! Each of them takes its names in turn, reports the ones it cannot remove
//! on a line each, and removes the others. Scripts then read the exit
//! status, which podman documents for these commands:
//!
//! - 0: everything named was removed;
//! - 1: something named does not exist, and nothing else failed;
//! - 2: something named is in use (a running container, an image or a
//!   volume or network a container uses), and nothing else failed;
//! - 125: any other failure.
//!
//! So `rm` of a name already gone exits 1, not rless's own 125, and a
//! script can tell "already gone" from "still running" from "broken".
//! When failures of several kinds come together, the most serious wins:
//! another failure over "in use" over "missing".

use anyhow::Error;
use rless::container::pod::PodError;
use rless::container::volume::VolumeError;
use rless::container::ContainerError;
use rless::image::LookupError;
use rless::network::NetworkError;
use std::process::ExitCode;

/// What a removal that failed ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// The name does not exist.
    Missing,
    /// A container uses it, or (a container) it is running.
    InUse,
    /// Anything else.
    Other,
}

impl Failure {
    /// The class of `e`, from the typed errors in its chain.
    pub fn of(e: &Error) -> Failure {
        for cause in e.chain() {
            if let Some(c) = cause.downcast_ref::<ContainerError>() {
                return match c {
                    ContainerError::NotFound(_) => Failure::Missing,
                    _ => Failure::Other,
                };
            }
            if let Some(LookupError::NotFound(_)) = cause.downcast_ref::<LookupError>() {
                return Failure::Missing;
            }
            if let Some(v) = cause.downcast_ref::<VolumeError>() {
                return match v {
                    VolumeError::NotFound(_) => Failure::Missing,
                    VolumeError::InUse { .. } => Failure::InUse,
                    _ => Failure::Other,
                };
            }
            if let Some(n) = cause.downcast_ref::<NetworkError>() {
                return match n {
                    NetworkError::NotFound(_) => Failure::Missing,
                    NetworkError::InUse { .. } => Failure::InUse,
                    _ => Failure::Other,
                };
            }
            if let Some(p) = cause.downcast_ref::<PodError>() {
                return match p {
                    PodError::NotFound(_) => Failure::Missing,
                    PodError::InUse { .. } => Failure::InUse,
                    _ => Failure::Other,
                };
            }
            if cause.downcast_ref::<InUse>().is_some() {
                return Failure::InUse;
            }
            // `rm --latest` with no container at all.
            if let Some(super::latest::LatestError::NoContainer) = cause.downcast_ref() {
                return Failure::Missing;
            }
        }
        Failure::Other
    }

    fn code(self) -> u8 {
        match self {
            Failure::Missing => 1,
            Failure::InUse => 2,
            Failure::Other => 125,
        }
    }
}

/// A removal refused because the object is in use: a running container
/// without `-f`, or an image a container uses.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InUse(pub String);

/// The failures of one removal command, reported as they come.
#[derive(Debug, Default)]
pub struct Removals {
    worst: Option<Failure>,
}

impl Removals {
    /// Reports `e` on its own line, and keeps its class.
    pub fn add(&mut self, e: Error) {
        let class = Failure::of(&e);
        eprintln!("rless: {}", super::error_line(&e));
        self.worst = self.worst.max(Some(class));
    }

    /// The command's exit status.
    pub fn finish(self) -> ExitCode {
        ExitCode::from(self.worst.map_or(0, Failure::code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(errors: Vec<Error>) -> u8 {
        let mut r = Removals::default();
        let worst = errors.iter().map(Failure::of).max();
        errors.into_iter().for_each(|e| r.add(e));
        assert_eq!(r.worst, worst);
        worst.map_or(0, Failure::code)
    }

    #[test]
    fn the_most_serious_failure_sets_the_status() {
        let missing = || Error::from(ContainerError::NotFound("a".into()));
        let image = || Error::from(LookupError::NotFound("i".into()));
        let used = || Error::from(InUse("running".into()));
        let volume_used = || {
            Error::from(VolumeError::InUse {
                name: "v".into(),
                containers: "c".into(),
            })
        };
        let other = || anyhow::anyhow!("cannot remove a: disk on fire");
        assert_eq!(code(vec![]), 0);
        assert_eq!(code(vec![missing()]), 1);
        assert_eq!(code(vec![image(), missing()]), 1);
        assert_eq!(code(vec![used()]), 2);
        assert_eq!(code(vec![missing(), volume_used()]), 2);
        assert_eq!(code(vec![missing(), other(), used()]), 125);
        // Context added on the way up keeps the class.
        assert_eq!(code(vec![missing().context("looking up a")]), 1);
        assert_eq!(
            code(vec![Error::from(NetworkError::NotFound("n".into()))]),
            1
        );
    }
}
