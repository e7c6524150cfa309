//! The checks of a Containerfile made before anything runs: every
//! instruction is known, supported and has its argument, and takes only
//! the flags rless acts on.
//!
//! Theory of operation: a build-input error (this one, a parse error, an
//! ARG before FROM, a stage reference) is one line naming the file and
//! the line, and the build exits 125, as podman does for a Containerfile
//! it cannot read: nothing has been made yet. A step that fails once the
//! build runs exits 1 instead (docker's and podman's).

use super::parse::Instruction;

/// What a build-input error exits with (podman's).
pub(super) const EXIT_INPUT: u8 = 125;

const SUPPORTED: [&str; 18] = [
    "FROM",
    "MAINTAINER",
    "HEALTHCHECK",
    "ONBUILD",
    "RUN",
    "COPY",
    "ADD",
    "ENV",
    "ARG",
    "WORKDIR",
    "USER",
    "CMD",
    "ENTRYPOINT",
    "LABEL",
    "EXPOSE",
    "VOLUME",
    "STOPSIGNAL",
    "SHELL",
];

/// Every instruction is known and supported, before anything runs.
pub(super) fn check(file: &str, all: &[Instruction]) -> Result<(), String> {
    for i in all {
        let at = format!("{file}: line {}", i.line);
        if !SUPPORTED.contains(&i.keyword.as_str()) {
            return Err(format!("{at}: unknown instruction {}", i.keyword));
        }
        let known: &[&str] = match i.keyword.as_str() {
            "HEALTHCHECK" => &["interval", "timeout", "start-period", "retries"],
            "COPY" => &["chown", "chmod", "from", "link", "exclude", "parents"],
            "ADD" => &["chown", "chmod", "link", "exclude", "checksum"],
            "FROM" => &["platform"],
            "RUN" => &super::mounts::RUN_FLAGS,
            _ => &[],
        };
        for (f, _) in &i.flags {
            if i.keyword == "ADD" && f == "keep-git-dir" {
                return Err(format!(
                    "{at}: ADD --keep-git-dir is not supported (rless does not fetch git repositories)"
                ));
            }
            if !known.contains(&f.as_str()) {
                return Err(format!("{at}: {} --{f} is not supported", i.keyword));
            }
        }
        if i.keyword == "COPY" {
            super::parents::wanted(i).map_err(|why| format!("{at}: {why}"))?;
        }
        if i.rest.is_empty() {
            return Err(format!("{at}: {} needs an argument", i.keyword));
        }
    }
    Ok(())
}
