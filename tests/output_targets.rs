//! `save -o` and `export -o` to what is not a regular file, as docker
//! writes to it: `/dev/null`, a FIFO (which stays a FIFO and gets the
//! archive), `/dev/stdout` (a pipe, or a file opened for appending, which
//! keeps what it had), and a FIFO whose writer a SIGTERM stops (it stays,
//! never replaced nor removed). A regular FILE that existed is untouched
//! by a failed save.
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::background::Background;
use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, Ctx};
use std::fs;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Makes a FIFO the test user can write to.
fn fifo(ctx: &Ctx, name: &str) -> std::path::PathBuf {
    let p = ctx.work.join(name);
    rustix::fs::mkfifoat(rustix::fs::CWD, &p, rustix::fs::Mode::from_raw_mode(0o600))
        .expect("mkfifo");
    ctx.give(&p);
    p
}

fn is_fifo(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_fifo())
}

/// Runs `rless ARGS` with stdout appended to `file`; must succeed.
fn to_appended_stdout(ctx: &Ctx, args: &[&str], file: &Path) {
    let out = fs::OpenOptions::new().append(true).open(file).unwrap();
    let mut cmd = ctx.rless_cmd(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::piped());
    let done = cmd.output().expect("run rless");
    assert!(
        done.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}

/// Runs `rless ARGS` writing into the FIFO `p`, read here; returns what
/// came through it.
fn through_fifo(ctx: &Ctx, args: &[&str], p: &Path) -> Vec<u8> {
    let path = p.to_path_buf();
    let reader = std::thread::spawn(move || {
        let mut data = Vec::new();
        fs::File::open(path)
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        data
    });
    ctx.ok(args);
    reader.join().unwrap()
}

#[test]
fn save_and_export_to_non_regular_files() {
    if !have_busybox() {
        return;
    }
    for_each_user("save_and_export_to_non_regular_files", |ctx| {
        setup_image(ctx);
        ctx.ok(&["create", "--name", "c1", IMG, "sh"]);
        let saved = ctx.work.join("saved.tar");
        let exported = ctx.work.join("exported.tar");
        ctx.ok(&["save", "-o", saved.to_str().unwrap(), IMG]);
        ctx.ok(&["export", "-o", exported.to_str().unwrap(), "c1"]);
        let saved = fs::read(&saved).unwrap();
        let exported = fs::read(&exported).unwrap();

        // /dev/null, which the user cannot replace.
        ctx.ok(&["save", "-o", "/dev/null", IMG]);
        ctx.ok(&["export", "-o", "/dev/null", "c1"]);

        // A FIFO: its reader gets the archive, and it stays a FIFO.
        let f = fifo(ctx, "pipe");
        let got = through_fifo(ctx, &["save", "-o", f.to_str().unwrap(), IMG], &f);
        assert!(got == saved, "save through a FIFO: {} bytes", got.len());
        assert!(is_fifo(&f), "save replaced the FIFO");
        let got = through_fifo(ctx, &["export", "-o", f.to_str().unwrap(), "c1"], &f);
        assert!(
            got == exported,
            "export through a FIFO: {} bytes",
            got.len()
        );
        assert!(is_fifo(&f), "export replaced the FIFO");

        // /dev/stdout (and /dev/fd/1) opened for appending: what the file
        // had stays, the archive follows.
        for (args, expected) in [
            (["save", "-o", "/dev/stdout", IMG], &saved),
            (["export", "-o", "/dev/fd/1", "c1"], &exported),
        ] {
            let file = ctx.write_file("appended", b"head\n");
            to_appended_stdout(ctx, &args, &file);
            let data = fs::read(&file).unwrap();
            assert!(
                data.starts_with(b"head\n") && data[5..] == expected[..],
                "{args:?}: {} bytes",
                data.len()
            );
        }

        // SIGTERM while the writer waits on a FIFO nobody reads: it ends
        // with 143, the FIFO stays a FIFO.
        let f = fifo(ctx, "stalled");
        let path = f.clone();
        // Opened (so the writer's open returns) but never read until the end.
        let reader = std::thread::spawn(move || fs::File::open(path).unwrap());
        let mut save = Background::spawn(ctx, &["save", "-o", f.to_str().unwrap(), IMG]);
        let reader = reader.join().unwrap();
        // Writing (so its signals are taken over): the archive is bigger
        // than the pipe, so it cannot end while nobody reads.
        let writing = eventually(Duration::from_secs(60), || {
            rustix::io::ioctl_fionread(&reader).unwrap_or(0) > 0 || !save.running()
        });
        assert!(writing && save.running(), "save ended: {}", save.stderr());
        save.signal(rustix::process::Signal::TERM);
        let (code, _) = save.finish(Duration::from_secs(60));
        drop(reader);
        assert_eq!(code, Some(143), "save to a stalled FIFO");
        assert!(is_fifo(&f), "a stopped save removed or replaced the FIFO");

        // A regular file that existed is untouched when the save fails.
        let kept = ctx.write_file("kept.tar", b"old");
        ctx.fail(&["save", "-o", kept.to_str().unwrap(), "nosuch"]);
        assert_eq!(fs::read(&kept).unwrap(), b"old");
        let debris: Vec<String> = fs::read_dir(&ctx.work)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(debris.is_empty(), "left {debris:?}");
        ctx.ok(&["rm", "c1"]);
    });
}
