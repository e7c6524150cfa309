//! Xattrs through the mount, run over kernel overlayfs and over
//! fuse-overlay on the same lower layers with the logs compared: get, list,
//! remove, ERANGE, CREATE/REPLACE, kept by copy-up, and the overlay's own
//! xattrs (private ones hidden, `user.overlay.*` names stored escaped).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::differential::*;
use common::*;
use rustix::fs::XattrFlags;

fn getx(p: &Path, name: &str) -> String {
    let mut buf = [0u8; 256];
    match rustix::fs::lgetxattr(p, name, &mut buf[..]) {
        Ok(n) => format!("{:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) => format!("errno {}", e.raw_os_error()),
    }
}

fn listx(p: &Path) -> String {
    let mut buf = [0u8; 4096];
    match rustix::fs::llistxattr(p, &mut buf[..]) {
        Ok(n) => {
            let mut v: Vec<String> = buf[..n]
                .split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            v.sort();
            format!("[{}]", v.join(","))
        }
        Err(e) => format!("errno {}", e.raw_os_error()),
    }
}

fn setx(p: &Path, name: &str, v: &str, flags: XattrFlags) -> String {
    rres(rustix::fs::lsetxattr(p, name, v.as_bytes(), flags))
}

/// Whether the test directory's filesystem takes user xattrs.
fn user_xattrs(dir: &Path) -> Result<(), String> {
    let probe = dir.join("probe");
    fs::write(&probe, "").unwrap();
    rustix::fs::setxattr(&probe, "user.test", b"1", XattrFlags::empty())
        .map_err(|e| format!("user xattrs on the test filesystem: {e}"))
}

#[test]
fn xattrs_through_the_mount() {
    const T: &str = "xattrs_through_the_mount";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    if let Err(e) = user_xattrs(tmp.path()) {
        return skip(T, &e);
    }
    let l1 = lower(tmp.path(), "l1");
    let l2 = lower(tmp.path(), "l2");
    for (f, v) in [("f", "lowval"), ("g", "gval"), ("h", "hval")] {
        fs::write(l2.join(f), f).unwrap();
        rustix::fs::setxattr(l2.join(f), "user.test", v.as_bytes(), XattrFlags::empty()).unwrap();
    }
    fs::create_dir_all(l2.join("opq")).unwrap();
    fs::write(l2.join("opq/old"), "hidden").unwrap();
    fs::create_dir_all(l1.join("opq")).unwrap();
    set_opaque(&l1.join("opq"));
    rustix::fs::setxattr(l1.join("opq"), "user.mine", b"d", XattrFlags::empty()).unwrap();
    fs::write(l1.join("opq/new"), "visible").unwrap();
    fs::create_dir_all(l2.join("wd")).unwrap();
    fs::write(l2.join("wd/a"), "a").unwrap();
    fs::write(l2.join("wd/b"), "b").unwrap();
    fs::create_dir_all(l1.join("wd")).unwrap();
    whiteout(&l1.join("wd/a"));
    fs::create_dir_all(l2.join("ed/sub")).unwrap();
    fs::write(l2.join("ed/sub/x"), "x").unwrap();
    let lowers = vec![l1, l2.clone()];
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        let mut r = |what: &str, x: String| log.push(format!("{what}: {x}"));
        let f = m.join("f");
        r("get f", getx(&f, "user.test"));
        r("list f", listx(&f));
        r("get f missing", getx(&f, "user.none"));
        let mut small = [0u8; 2];
        r(
            "get f small buffer",
            rres(rustix::fs::getxattr(&f, "user.test", &mut small[..])),
        );
        let mut exact = [0u8; 6];
        r(
            "get f exact buffer",
            rres(rustix::fs::getxattr(&f, "user.test", &mut exact[..])),
        );
        r(
            "chmod f",
            res(fs::set_permissions(&f, fs::Permissions::from_mode(0o600))),
        );
        r("get f after chmod", getx(&f, "user.test"));
        r(
            "set f other",
            setx(&f, "user.other", "o", XattrFlags::empty()),
        );
        r("list f", listx(&f));
        r(
            "create f other",
            setx(&f, "user.other", "p", XattrFlags::CREATE),
        );
        r(
            "replace g new",
            setx(&m.join("g"), "user.new", "n", XattrFlags::REPLACE),
        );
        r(
            "replace g test",
            setx(&m.join("g"), "user.test", "g2", XattrFlags::REPLACE),
        );
        r("get g", getx(&m.join("g"), "user.test"));
        r(
            "remove f test",
            rres(rustix::fs::lremovexattr(&f, "user.test")),
        );
        r("get f test", getx(&f, "user.test"));
        r(
            "remove f test again",
            rres(rustix::fs::lremovexattr(&f, "user.test")),
        );
        r("list f", listx(&f));
        r(
            "chmod h",
            res(fs::set_permissions(
                m.join("h"),
                fs::Permissions::from_mode(0o640),
            )),
        );
        r("list h", listx(&m.join("h")));
        // Directories whose layers carry overlay xattrs.
        let opq = m.join("opq");
        r("list opq", listx(&opq));
        r("get opq mine", getx(&opq, "user.mine"));
        r("ls opq", {
            let mut v: Vec<String> = fs::read_dir(&opq)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v.join(",")
        });
        r("list wd", listx(&m.join("wd")));
        r("rm wd/b", res(fs::remove_file(m.join("wd/b"))));
        r("list wd", listx(&m.join("wd")));
        r("list root", listx(m));
        // A lower directory removed and made again: opaque in the upper.
        r("rm ed/sub/x", res(fs::remove_file(m.join("ed/sub/x"))));
        r("rmdir ed/sub", res(fs::remove_dir(m.join("ed/sub"))));
        r("rmdir ed", res(fs::remove_dir(m.join("ed"))));
        r("mkdir ed", res(fs::create_dir(m.join("ed"))));
        r("list ed", listx(&m.join("ed")));
        r(
            "set ed",
            setx(&m.join("ed"), "user.d", "v", XattrFlags::empty()),
        );
        r("list ed", listx(&m.join("ed")));
        r("mkdir opq/n", res(fs::create_dir(opq.join("n"))));
        r("list opq", listx(&opq));
        r("set opq", setx(&opq, "user.more", "m", XattrFlags::empty()));
        r("list opq", listx(&opq));
        r("list opq/n", listx(&opq.join("n")));
        log
    };
    let Some(run) = differential(T, tmp.path(), &lowers, &[("fuse", opts(false))], scenario) else {
        return;
    };
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        let u = &d.upper;
        assert_eq!(
            getx(&u.join("h"), "user.test"),
            "\"hval\"",
            "{}",
            u.display()
        );
        assert_eq!(getx(&u.join("g"), "user.test"), "\"g2\"");
        assert_eq!(getx(&u.join("f"), "user.test"), "errno 61");
        assert_eq!(getx(&u.join("f"), "user.other"), "\"o\"");
        assert_eq!(getx(&u.join("ed"), "user.overlay.opaque"), "\"y\"");
        assert_eq!(getx(&u.join("ed"), "user.d"), "\"v\"");
        assert_eq!(getx(&u.join("opq"), "user.mine"), "\"d\"");
        assert_eq!(getx(&u.join("opq"), "user.more"), "\"m\"");
    }
    assert_eq!(getx(&l2.join("h"), "user.test"), "\"hval\"");
    assert_eq!(listx(&l2.join("f")), "[user.test]", "lower f changed");
    for line in [
        "get f: \"lowval\"",
        "get f small buffer: errno 34",
        "get f after chmod: \"lowval\"",
        "list f: [user.other,user.test]",
        "create f other: errno 17",
        "replace g new: errno 61",
        "remove f test again: errno 61",
        "list f: [user.other]",
        "list opq: [user.mine]",
        "list wd: []",
        "list ed: []",
        "list ed: [user.d]",
        "list opq: [user.mine,user.more]",
        "list opq/n: []",
    ] {
        run.has(line);
    }
}

/// Whether kernel overlayfs escapes `user.overlay.*` names set through
/// the mount (6.7 and later); older kernels refuse them.
fn kernel_escapes_xattrs() -> bool {
    let rel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = rel
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (major, minor) >= (6, 7)
}

/// The overlay's own xattrs. Private ones in a layer (`user.overlay.opaque`,
/// `user.overlay.impure`) are hidden by name and from lists. A
/// `user.overlay.*` name set through the mount is stored escaped, as
/// `user.overlay.overlay.*`, and shown under its own name, also after a
/// copy-up and a remount; an escaped one in a lower layer shows too. This
/// is kernel overlayfs since 6.7: there the logs are compared; on older
/// kernels (which refuse such names) fuse-overlay alone is checked against
/// the same expected lines.
#[test]
fn overlay_xattrs_escaped_and_hidden() {
    const T: &str = "overlay_xattrs_escaped_and_hidden";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    if let Err(e) = user_xattrs(tmp.path()) {
        return skip(T, &e);
    }
    let l1 = lower(tmp.path(), "l1");
    let l2 = lower(tmp.path(), "l2");
    fs::create_dir_all(l2.join("opq")).unwrap();
    fs::create_dir_all(l1.join("opq")).unwrap();
    set_opaque(&l1.join("opq"));
    fs::write(l1.join("f"), "f").unwrap();
    fs::write(l1.join("g"), "g").unwrap();
    for (n, v) in [
        ("user.overlay.overlay.esc", "pre"),
        ("user.overlay.impure", "y"),
        ("user.plain", "p"),
    ] {
        rustix::fs::setxattr(l1.join("f"), n, v.as_bytes(), XattrFlags::empty()).unwrap();
    }
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        let mut r = |what: &str, x: String| log.push(format!("{what}: {x}"));
        let (opq, f, g) = (m.join("opq"), m.join("f"), m.join("g"));
        r("get opq opaque", getx(&opq, "user.overlay.opaque"));
        r("list opq", listx(&opq));
        r("list f", listx(&f));
        r("get f esc", getx(&f, "user.overlay.esc"));
        r("get f impure", getx(&f, "user.overlay.impure"));
        r("get f stored name", getx(&f, "user.overlay.overlay.esc"));
        r(
            "chmod f",
            res(fs::set_permissions(&f, fs::Permissions::from_mode(0o600))),
        );
        r("list f", listx(&f));
        r("get f esc", getx(&f, "user.overlay.esc"));
        r(
            "set g foo",
            setx(&g, "user.overlay.foo", "bar", XattrFlags::empty()),
        );
        r("get g foo", getx(&g, "user.overlay.foo"));
        r(
            "create g foo",
            setx(&g, "user.overlay.foo", "x", XattrFlags::CREATE),
        );
        r(
            "set g overlay.y",
            setx(&g, "user.overlay.overlay.y", "2", XattrFlags::empty()),
        );
        r(
            "set g gone",
            setx(&g, "user.overlay.gone", "1", XattrFlags::empty()),
        );
        r("list g", listx(&g));
        r(
            "remove g gone",
            rres(rustix::fs::lremovexattr(&g, "user.overlay.gone")),
        );
        r(
            "remove g gone again",
            rres(rustix::fs::lremovexattr(&g, "user.overlay.gone")),
        );
        r(
            "remove g opaque",
            rres(rustix::fs::lremovexattr(&g, "user.overlay.opaque")),
        );
        r("list g", listx(&g));
        r(
            "set opq opaque",
            setx(&opq, "user.overlay.opaque", "n", XattrFlags::empty()),
        );
        r("get opq opaque", getx(&opq, "user.overlay.opaque"));
        r("list opq", listx(&opq));
        r(
            "set bare prefix",
            setx(&g, "user.overlay.", "x", XattrFlags::empty()),
        );
        r("get bare prefix", getx(&g, "user.overlay."));
        let long = format!("user.overlay.{}", "a".repeat(240));
        r("set long", setx(&g, &long, "x", XattrFlags::empty()));
        r("get long", getx(&g, &long));
        r("remove long", rres(rustix::fs::lremovexattr(&g, &long)));
        log
    };
    let want = [
        "get opq opaque: errno 61",
        "list opq: []",
        "list f: [user.overlay.esc,user.plain]",
        "get f esc: \"pre\"",
        "get f impure: errno 61",
        "get f stored name: errno 61",
        "chmod f: ok",
        "get g foo: \"bar\"",
        "create g foo: errno 17",
        "list g: [user.overlay.foo,user.overlay.gone,user.overlay.overlay.y]",
        "remove g gone again: errno 61",
        "remove g opaque: errno 61",
        "list g: [user.overlay.foo,user.overlay.overlay.y]",
        "set opq opaque: ok",
        "get opq opaque: \"n\"",
        "list opq: [user.overlay.opaque]",
        "set bare prefix: errno 22",
        "get bare prefix: errno 22",
        "set long: errno 95",
        "get long: errno 95",
        "remove long: errno 95",
    ];
    let uppers = if kernel_escapes_xattrs() {
        let Some(run) = differential(
            T,
            tmp.path(),
            &[l1.clone(), l2.clone()],
            &[("fuse", opts(false))],
            scenario,
        ) else {
            return;
        };
        for line in want {
            run.has(line);
        }
        let mut fuse = run.fuse.into_iter();
        (vec![run.kernel.upper], fuse.next().unwrap())
    } else {
        println!("{T}: kernel before 6.7 does not escape overlay xattrs; fuse-overlay alone");
        let d = dirs(tmp.path(), "fuse");
        let h = mount_fuse_with(&[l1.clone(), l2.clone()], &d, opts(false));
        let log = scenario(&d.mnt);
        h.unmount().unwrap();
        for line in want {
            assert!(
                log.iter().any(|l| l == line),
                "no line {line:?} in\n{}",
                log.join("\n")
            );
        }
        (Vec::new(), d)
    };
    let (mut uppers, fuse) = uppers;
    uppers.push(fuse.upper.clone());
    let stored = [
        ("f", "user.overlay.overlay.esc", "\"pre\""),
        ("f", "user.overlay.impure", "errno 61"), // private: not copied up
        ("g", "user.overlay.overlay.foo", "\"bar\""),
        ("g", "user.overlay.overlay.overlay.y", "\"2\""),
        ("g", "user.overlay.overlay.gone", "errno 61"),
        ("opq", "user.overlay.overlay.opaque", "\"n\""),
    ];
    for u in &uppers {
        for (f, name, want) in stored {
            assert_eq!(getx(&u.join(f), name), want, "{}: {f} {name}", u.display());
        }
    }
    // The fuse-overlay upper layer, mounted again.
    let d = fuse;
    let h = mount_fuse_with(&[l1, l2], &d, opts(false));
    assert_eq!(
        listx(&d.mnt.join("g")),
        "[user.overlay.foo,user.overlay.overlay.y]"
    );
    assert_eq!(listx(&d.mnt.join("f")), "[user.overlay.esc,user.plain]");
    assert_eq!(listx(&d.mnt.join("opq")), "[user.overlay.opaque]");
    assert_eq!(
        fs::read_dir(d.mnt.join("opq")).unwrap().count(),
        0,
        "opq stays opaque"
    );
    h.unmount().unwrap();
}

/// Setting an access ACL sets the mode's group bits (on the layer's
/// filesystem), which the kernel caches: gnulib programs (`sed -i`, `cp
/// -p`) set a file's mode that way, and the mode must show at once, also
/// to a caller asking for the mode alone, as `stat -c %A` and exec do.
#[test]
fn access_acl_sets_the_mode_at_once() {
    const T: &str = "access_acl_sets_the_mode_at_once";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    fs::write(l.join("lower_file"), "x").unwrap();
    fs::set_permissions(l.join("lower_file"), fs::Permissions::from_mode(0o600)).unwrap();
    // user::rw- group::r-- other::r--, as gnulib's copy of mode 0644.
    let acl_644 = [
        2u8, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255, 4, 0, 4, 0, 255, 255, 255, 255, 32, 0, 4, 0,
        255, 255, 255, 255,
    ];
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        let fresh = m.join("fresh");
        fs::write(&fresh, "y").unwrap();
        fs::set_permissions(&fresh, fs::Permissions::from_mode(0o600)).unwrap();
        for p in [fresh, m.join("lower_file")] {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let mode = |p: &Path| {
                rustix::fs::statx(
                    rustix::fs::CWD,
                    p,
                    rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                    rustix::fs::StatxFlags::MODE,
                )
                .map(|s| format!("{:o}", s.stx_mode & 0o7777))
                .unwrap_or_else(|e| format!("errno {}", e.raw_os_error()))
            };
            log.push(format!("{name} before: {}", mode(&p)));
            let r =
                rustix::fs::lsetxattr(&p, "system.posix_acl_access", &acl_644, XattrFlags::empty());
            log.push(format!("{name} set acl: {}", rres(r)));
            log.push(format!("{name} after: {}", mode(&p)));
        }
        log
    };
    let variants = [("fuse", opts(false)), ("fuse-wb", opts(true))];
    let Some(run) = differential(T, tmp.path(), std::slice::from_ref(&l), &variants, scenario)
    else {
        return;
    };
    run.has("fresh after: 644");
    run.has("lower_file after: 644");
}
