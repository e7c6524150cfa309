//! SEEK_DATA and SEEK_HOLE see the holes of sparse files, in a lower layer
//! and after copy-up.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;

use common::*;
use rustix::fs::SeekFrom;

const MIB: u64 = 1 << 20;

/// (first data offset from 0, first hole from the data) of `f`.
fn data_and_hole(f: &fs::File) -> (u64, u64) {
    let data = rustix::fs::seek(f.as_fd(), SeekFrom::Data(0)).unwrap();
    let hole = rustix::fs::seek(f.as_fd(), SeekFrom::Hole(data)).unwrap();
    (data, hole)
}

#[test]
fn seek_data_and_hole() {
    if !with_caps("seek_data_and_hole") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lower = tmp.path().join("lower");
    fs::create_dir_all(&lower).unwrap();
    // 8 MiB hole, 1 MiB of data, 8 MiB hole.
    let f = fs::File::create(lower.join("sparse")).unwrap();
    f.set_len(17 * MIB).unwrap();
    rustix::io::pwrite(f.as_fd(), &vec![7u8; MIB as usize], 8 * MIB).unwrap();
    drop(f);
    let want = data_and_hole(&fs::File::open(lower.join("sparse")).unwrap());
    if want != (8 * MIB, 9 * MIB) {
        return skip(
            "seek_data_and_hole",
            &format!("the test directory's filesystem reports holes as {want:?}"),
        );
    }
    let d = dirs(tmp.path(), "m");
    let h = mount_fuse(std::slice::from_ref(&lower), &d, true);
    let p = d.mnt.join("sparse");
    assert_eq!(data_and_hole(&fs::File::open(&p).unwrap()), want, "lower");
    // Past the end: ENXIO, as on any filesystem.
    let f = fs::File::open(&p).unwrap();
    assert_eq!(
        rustix::fs::seek(f.as_fd(), SeekFrom::Data(18 * MIB)),
        Err(rustix::io::Errno::NXIO)
    );
    drop(f);
    // Copy-up (append) keeps the holes.
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b"end").unwrap();
    drop(f);
    assert_eq!(data_and_hole(&fs::File::open(&p).unwrap()), want, "upper");
    let blocks =
        std::os::unix::fs::MetadataExt::blocks(&fs::metadata(d.upper.join("sparse")).unwrap());
    assert!(
        blocks * 512 < 4 * MIB,
        "copy-up filled the holes: {blocks} blocks"
    );
    h.unmount().unwrap();
}
