//! Reading the kernel's small text files (`/proc/PID/stat`,
//! `/proc/self/mountinfo`, `/proc/self/cgroup`…) in as few calls as
//! possible.
//!
//! Theory of operation: `fs::read_to_string` asks the file's size first
//! (an `fstat`) and, since these files show a size of 0, then reads them
//! in pieces that double from 32 bytes: a 1.6 KiB mountinfo took eleven
//! calls. [`read`] reads into a 4 KiB buffer from the start (doubled only
//! past that): open, one read, the read that finds the end, close.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The whole of the text file at `path`.
pub fn read(path: impl AsRef<Path>) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_proc_files_and_long_files_whole() {
        // A /proc file that stays the same between two reads (stat's counters
        // move: comparing two reads of it failed under load).
        let limits = super::read("/proc/self/limits").unwrap();
        assert!(limits.contains("Max open files"), "{limits}");
        assert_eq!(
            limits,
            std::fs::read_to_string("/proc/self/limits").unwrap()
        );
        let t = tempfile::tempdir().unwrap();
        let long = "x".repeat(10_000);
        std::fs::write(t.path().join("f"), &long).unwrap();
        assert_eq!(super::read(t.path().join("f")).unwrap(), long);
        assert!(super::read(t.path().join("missing")).is_err());
    }
}
