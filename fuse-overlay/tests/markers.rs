//! The marker layout: `.wh.NAME` whiteouts and `.wh..wh..opq` opaque
//! markers are honoured in lower layers, and written to the upper layer
//! when xattrs are disabled.

mod common;

use std::fs;

use common::*;

#[test]
fn marker_layout_read_and_written() {
    if !with_caps("marker_layout_read_and_written") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l1 = tmp.path().join("l1");
    let l2 = tmp.path().join("l2");
    for d in ["opq", "keep"] {
        fs::create_dir_all(l1.join(d)).unwrap();
        fs::create_dir_all(l2.join(d)).unwrap();
    }
    fs::write(l2.join("gone"), "x").unwrap();
    fs::write(l1.join(".wh.gone"), "").unwrap();
    fs::write(l2.join("opq/hidden"), "x").unwrap();
    fs::write(l1.join("opq/.wh..wh..opq"), "").unwrap();
    fs::write(l1.join("opq/shown"), "x").unwrap();
    fs::write(l2.join("keep/a"), "a").unwrap();
    fs::create_dir_all(l2.join("dd/sub")).unwrap();
    fs::write(l2.join("dd/sub/f"), "f").unwrap();
    let lowers = vec![l1, l2];
    let d = dirs(tmp.path(), "fuse");
    let h = mount_fuse(&lowers, &d, false);
    let m = &d.mnt;
    let names = |p: &std::path::Path| {
        let mut v: Vec<String> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(m), ["dd", "keep", "opq"]);
    assert_eq!(names(&m.join("opq")), ["shown"]);
    assert!(!m.join("gone").exists());
    fs::remove_file(m.join("keep/a")).unwrap();
    assert!(
        d.upper.join("keep/.wh.a").is_file(),
        "marker whiteout not written"
    );
    fs::remove_dir_all(m.join("dd")).unwrap();
    assert!(d.upper.join(".wh.dd").is_file());
    fs::create_dir(m.join("dd")).unwrap();
    assert!(
        d.upper.join("dd/.wh..wh..opq").is_file(),
        "opaque marker not written"
    );
    assert_eq!(names(&m.join("dd")), Vec::<String>::new());
    fs::write(m.join("dd/new"), "n").unwrap();
    let before = dump(m);
    h.unmount().unwrap();
    let h = mount_fuse(&lowers, &d, false);
    assert_eq!(dump(m), before);
    h.unmount().unwrap();
}
