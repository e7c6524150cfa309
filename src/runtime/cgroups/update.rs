//! `rless update` on a running container: its cgroup files rewritten.
//!
//! Theory of operation: the container's old settings and its new ones are
//! compared by what they limit ([`limit_key`]: the file, and for per-device
//! files the device and io.max's key). A limit in both is simply written
//! anew (never lifted in between); one only in the old settings is lifted
//! to the kernel's default ([`reset_value`]); then the new values are
//! written. Files are opened, never created, so a file the kernel lacks is
//! an error naming it. Settings with a fallback (`io.bfq.weight` →
//! `io.weight`) use it where their own file is missing, as at creation.

use super::{io_err, limits, CgroupError, Setting};
use std::io;
use std::path::{Path, PathBuf};

/// The file and value `s` writes in the cgroup `dir`: its own, or its
/// fallback where that file does not exist.
pub(super) fn target(dir: &Path, s: &Setting) -> (PathBuf, String) {
    let file = dir.join(&s.file);
    match &s.fallback {
        Some((f, v)) if !file.exists() => (dir.join(f), v.clone()),
        _ => (file, s.value.clone()),
    }
}

/// What a setting limits: its file, and for per-device files the device
/// (and io.max's key), so that a new value replaces an old one.
fn limit_key(s: &Setting) -> String {
    match s.value.split_once(' ') {
        Some((dev, rest)) if dev.contains(':') && s.file == "io.max" => {
            format!("{} {dev} {}", s.file, rest.split('=').next().unwrap_or(""))
        }
        Some((dev, _)) if dev.contains(':') => format!("{} {dev}", s.file),
        _ => s.file.clone(),
    }
}

/// The value that lifts the limit `s` set (the kernel's default).
fn reset_value(s: &Setting) -> String {
    let device = s.value.split_once(' ').filter(|(d, _)| d.contains(':'));
    match (s.file.as_str(), device) {
        ("io.max", Some((dev, rest))) => {
            format!("{dev} {}=max", rest.split('=').next().unwrap_or("rbps"))
        }
        (_, Some((dev, _))) => format!("{dev} default"),
        ("cpu.max", _) => format!("max {}", limits::CPU_PERIOD),
        ("cpu.weight", _) => "100".into(),
        ("io.bfq.weight", _) => "100".into(),
        ("io.weight", _) => "default 100".into(),
        ("memory.low", _) => "0".into(),
        ("cpuset.cpus" | "cpuset.mems", _) => "\n".into(),
        _ => "max".into(),
    }
}

/// `rless update` on a running container: writes `new` into its cgroup
/// `dir` and lifts what `old` limited that `new` does not. Every write is
/// tried; the first failure is returned.
pub fn update_live(dir: &Path, old: &[Setting], new: &[Setting]) -> Result<(), CgroupError> {
    let mut first = None;
    let keep: Vec<String> = new.iter().map(limit_key).collect();
    let mut writes: Vec<(PathBuf, String, bool)> = Vec::new();
    for s in old.iter().filter(|s| !keep.contains(&limit_key(s))) {
        let mut r = s.clone();
        r.value = reset_value(s);
        if let Some((f, v)) = &s.fallback {
            let mut alt = s.clone();
            alt.value = v.clone();
            r.fallback = Some((
                f.clone(),
                reset_value(&Setting {
                    file: f.clone(),
                    ..alt
                }),
            ));
        }
        let (file, value) = target(dir, &r);
        writes.push((file, value, true));
    }
    for s in new {
        let (file, value) = target(dir, s);
        writes.push((file, value, s.implied));
    }
    for (file, value, quiet) in writes {
        if quiet && !file.exists() {
            continue;
        }
        // Never created: a file the kernel does not have is an error.
        let written = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&file)
            .and_then(|mut f| io::Write::write_all(&mut f, value.as_bytes()));
        if let Err(e) = written {
            first.get_or_insert_with(|| io_err("write", &file)(e));
        }
    }
    first.map_or(Ok(()), Err)
}
