//! ACL edge cases, compared with kernel overlayfs (see `acl.rs` for the
//! main cases): a lower layer on a filesystem without ACLs (the kernel asks
//! for ACLs in its permission checks, and "not supported" must read as
//! "none"), set-id bits of objects made under a default ACL, a work
//! directory with a default ACL of its own (it must not reach copies), an
//! open, unlinked file reopened by another user (its ACL is read through
//! the orphan), and the ids in ACLs under `uidmapping`.

mod common;

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::acl::*;
use common::*;
use rustix::fs::{FileType, Mode, OFlags, CWD};

#[test]
fn lower_layer_without_acls() {
    let test = "lower_layer_without_acls";
    let Some(base) = other_uids_base(test) else {
        return;
    };
    let lower = &base.1;
    // ramfs keeps no ACLs: every ACL read answers "not supported".
    rustix::mount::mount(
        "ramfs",
        lower,
        "ramfs",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .unwrap();
    let _g = Unmount(lower.clone());
    fs::set_permissions(lower, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(lower.join("f"), "f\n").unwrap();
    fs::create_dir(lower.join("d")).unwrap();
    fs::set_permissions(lower.join("d"), fs::Permissions::from_mode(0o777)).unwrap();
    fs::write(lower.join("d/g"), "g\n").unwrap();
    fs::write(lower.join("mine"), "mine\n").unwrap();
    let id = Some(rustix::fs::Uid::from_raw(1000));
    rustix::fs::chown(
        lower.join("mine"),
        id,
        Some(rustix::fs::Gid::from_raw(1000)),
    )
    .unwrap();
    fs::set_permissions(lower.join("mine"), fs::Permissions::from_mode(0o640)).unwrap();
    let scenario = |m: &Path| {
        [
            (1000, "cat f"),
            (1000, "ls d"),
            (1000, "cat d/g"),
            (0, "cat mine"),
            (1000, "echo new > d/new && cat d/new"),
        ]
        .iter()
        .map(|(uid, cmd)| sh_as(m, *uid, cmd))
        .collect()
    };
    let variants = [(false, false), (false, true)];
    compare(test, &base, &variants, |_| {}, scenario);
}

#[test]
fn default_acl_keeps_set_id_bits() {
    let test = "default_acl_keeps_set_id_bits";
    let Some(base) = other_uids_base(test) else {
        return;
    };
    let lower = &base.1;
    fs::create_dir(lower.join("inh")).unwrap();
    fs::create_dir(lower.join("plain")).unwrap();
    set(
        &lower.join("inh"),
        "system.posix_acl_default",
        &default_acl(),
    );
    let scenario = |m: &Path| {
        let mut log = vec![];
        rustix::process::umask(Mode::from_raw_mode(0o022));
        for d in ["inh", "plain"] {
            let f = m.join(d).join("suid");
            let r = rustix::fs::open(
                &f,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY,
                Mode::from_raw_mode(0o6755),
            );
            log.push(format!(
                "{d} create 6755: {:?} mode {}",
                r.is_ok(),
                mode(&f)
            ));
            let f = m.join(d).join("node");
            let r = rustix::fs::mknodat(CWD, &f, FileType::Fifo, Mode::from_raw_mode(0o4755), 0);
            log.push(format!("{d} fifo 4755: {:?} mode {}", r.is_ok(), mode(&f)));
            let f = m.join(d).join("dir");
            let r = rustix::fs::mkdir(&f, Mode::from_raw_mode(0o3775));
            log.push(format!("{d} mkdir 3775: {:?} mode {}", r.is_ok(), mode(&f)));
        }
        log
    };
    let variants = [(false, false), (false, true)];
    compare(test, &base, &variants, |_| {}, scenario);
}

#[test]
fn work_directory_acl_stays_out_of_copies() {
    let test = "work_directory_acl_stays_out_of_copies";
    let Some(base) = other_uids_base(test) else {
        return;
    };
    let lower = &base.1;
    fs::create_dir(lower.join("dir")).unwrap();
    fs::set_permissions(lower.join("dir"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::write(lower.join("file"), "x").unwrap();
    fs::set_permissions(lower.join("file"), fs::Permissions::from_mode(0o640)).unwrap();
    let scenario = |m: &Path| {
        let mut log = vec![];
        for n in ["file", "dir"] {
            let p = m.join(n);
            // A chown to the same owner: a copy-up.
            rustix::fs::chown(&p, Some(rustix::process::getuid()), None).unwrap();
            log.push(format!(
                "{n}: mode {} access {} default {}",
                mode(&p),
                xhex(&p, "system.posix_acl_access"),
                xhex(&p, "system.posix_acl_default")
            ));
        }
        log.push(sh_as(m, 1000, "cat file; ls dir"));
        log
    };
    let prepare = |d: &Dirs| set(&d.work, "system.posix_acl_default", &default_acl());
    let variants = [(false, false), (false, true)];
    compare(test, &base, &variants, prepare, scenario);
}

#[test]
fn orphan_reopened_by_another_user() {
    let test = "orphan_reopened_by_another_user";
    let Some(base) = other_uids_base(test) else {
        return;
    };
    let as_fsuid = |uid: u32, f: &mut dyn FnMut()| {
        // SAFETY: setfsuid only changes this thread's filesystem uid; the
        // test sets it back before returning.
        unsafe { libc::setfsuid(uid) };
        f();
        // SAFETY: as above.
        unsafe { libc::setfsuid(0) };
    };
    let scenario = |m: &Path| {
        let mut log = vec![];
        let p = m.join("shared");
        fs::write(&p, "data").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o666)).unwrap();
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        as_fsuid(1000, &mut || {
            log.push(format!("by name: {}", res(fs::read(&p))))
        });
        fs::remove_file(&p).unwrap();
        // A SETATTR: the kernel forgets the ACL it read.
        f.set_permissions(fs::Permissions::from_mode(0o666))
            .unwrap();
        let proc = format!("/proc/self/fd/{}", f.as_raw_fd());
        as_fsuid(1000, &mut || {
            log.push(format!("reopened: {}", res(fs::read(&proc))))
        });
        log
    };
    let variants = [(false, false), (true, false), (false, true)];
    compare(test, &base, &variants, |_| {}, scenario);
}

/// Under `uidmapping`, ids named in ACLs are mapped like owners: read
/// from disk to shown, written back to disk ids.
#[test]
fn acl_ids_follow_the_id_mapping() {
    let test = "acl_ids_follow_the_id_mapping";
    let Some(base) = other_uids_base(test) else {
        return;
    };
    let lower = &base.1;
    let f = lower.join("granted");
    fs::write(&f, "granted\n").unwrap();
    let (u, g) = (
        rustix::fs::Uid::from_raw(100_000),
        rustix::fs::Gid::from_raw(100_000),
    );
    rustix::fs::chown(&f, Some(u), Some(g)).unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
    // On disk: user 101000, shown as 1000, may read.
    let on_disk = |id| {
        acl(&[
            (1, 6, UNDEF),
            (2, 4, id),
            (4, 4, UNDEF),
            (0x10, 4, UNDEF),
            (0x20, 0, UNDEF),
        ])
    };
    set(&f, "system.posix_acl_access", &on_disk(101_000));
    let d = dirs(base.0.path(), "fuse");
    let mut o = variant(true, false, false);
    o.uid_map = fuse_overlay::IdMap::parse("100000:0:65536").unwrap();
    o.gid_map = o.uid_map.clone();
    let h = mount_fuse_with(std::slice::from_ref(lower), &d, o);
    let p = d.mnt.join("granted");
    let hex = |v: &[u8]| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(xhex(&p, "system.posix_acl_access"), hex(&on_disk(1000)));
    let out = sh_as(&d.mnt, 1000, "cat granted");
    assert!(out.contains("Some(0) granted"), "{out}");
    set(&p, "system.posix_acl_access", &on_disk(1001));
    assert_eq!(
        xhex(&d.upper.join("granted"), "system.posix_acl_access"),
        hex(&on_disk(101_001)),
        "stored with the disk's id"
    );
    h.unmount().unwrap();
}
