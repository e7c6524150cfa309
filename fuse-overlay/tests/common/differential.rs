//! Differential runs for the semantics tests: one scenario over kernel
//! overlayfs and over fuse-overlay variants on the same lower layers, the
//! logs of results compared line by line.

use std::fs;
use std::path::{Path, PathBuf};

use fuse_overlay::Options;

use super::*;

pub fn opts(writeback: bool) -> Options {
    Options {
        xattrs: true,
        writeback,
        ..Options::default()
    }
}

/// Result of a rustix call as "ok" or "errno N".
pub fn rres<T>(r: rustix::io::Result<T>) -> String {
    res(r.map_err(std::io::Error::from))
}

/// Up to `n` bytes at `off` read through `f`, as text, or "errno N".
pub fn pread_str(f: &fs::File, off: u64, n: usize) -> String {
    let mut buf = vec![0u8; n];
    match rustix::io::pread(std::os::fd::AsFd::as_fd(f), &mut buf, off) {
        Ok(k) => String::from_utf8_lossy(&buf[..k]).into_owned(),
        Err(e) => format!("errno {}", e.raw_os_error()),
    }
}

pub fn read(p: &Path) -> String {
    match fs::read(p) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
    }
}

/// Mounts of one test: kernel overlayfs and the fuse-overlay variants, each
/// with its own upper directory.
pub struct Run {
    pub kernel: Dirs,
    pub fuse: Vec<Dirs>,
    /// The log, the same for every mount.
    pub log: Vec<String>,
}

impl Run {
    /// Asserts the (common) log has this line.
    pub fn has(&self, line: &str) {
        assert!(
            self.log.iter().any(|l| l == line),
            "no line {line:?} in\n{}",
            self.log.join("\n")
        );
    }
}

/// Runs `scenario` over kernel overlayfs and over fuse-overlay once per
/// option set in `variants`, and once more with the first as kernel 4.18
/// (RHEL 8) would drive it (last in `Run::fuse`), asserts the logs are
/// equal, and returns the (unmounted) directories. `None` after a skip.
pub fn differential(
    test: &str,
    base: &Path,
    lowers: &[PathBuf],
    variants: &[(&str, Options)],
    scenario: impl Fn(&Path) -> Vec<String>,
) -> Option<Run> {
    let mut variants = variants.to_vec();
    if let Some((name, o)) = variants.first().cloned() {
        let old = Options {
            kernel_4_18: true,
            ..o
        };
        variants.push((if name == "fuse" { "fuse-4.18" } else { "4.18" }, old));
    }
    let kd = dirs(base, "kernel");
    let k = match mount_kernel(lowers, &kd) {
        Ok(k) => k,
        Err(e) => {
            skip(test, &e);
            return None;
        }
    };
    let klog = scenario(&kd.mnt);
    drop(k);
    println!("{test} (kernel):\n  {}", klog.join("\n  "));
    let mut fuse = Vec::new();
    for (name, o) in &variants {
        let fd = dirs(base, name);
        let h = mount_fuse_with(lowers, &fd, o.clone());
        let flog = scenario(&fd.mnt);
        h.unmount().unwrap();
        if klog != flog {
            println!("{test} (fuse-overlay {name}):\n  {}", flog.join("\n  "));
        }
        for (k, f) in klog.iter().zip(&flog) {
            assert_eq!(
                k, f,
                "{test}: kernel (left) and fuse-overlay {name} (right) differ"
            );
        }
        assert_eq!(klog.len(), flog.len(), "{test}: log lengths ({name})");
        fuse.push(fd);
    }
    Some(Run {
        kernel: kd,
        fuse,
        log: klog,
    })
}

pub fn lower(base: &Path, name: &str) -> PathBuf {
    let l = base.join(name);
    fs::create_dir_all(&l).unwrap();
    l
}
