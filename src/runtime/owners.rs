//! Whether the store's filesystem keeps the owners a user namespace gives
//! files: a store on NFS cannot, and then rless runs in single-id mode.
//!
//! Theory of operation. In subuid mode image files keep their owners as
//! subordinate ids on the host, given by `chown` inside rless's user
//! namespace. A local filesystem lets the namespace's root do that. An NFS
//! server does not: it sees only the user's own uid in the request and
//! refuses to give a file away (EPERM), and so do some Lustre and FUSE
//! setups. Home directories, where the store lives by default, are often on
//! NFS on HPC login nodes, where every pull then failed at its first file.
//!
//! So before a command uses the store in subuid mode, rless asks once per
//! store: a child enters the namespace, makes a `.tmp-` file in the store's
//! root, gives it to namespace id 1 and checks that the change held (some
//! filesystems ignore a chown silently). The answer is kept in the store:
//! `owners-kept` (an empty file: one `stat` per command afterwards) or
//! `owners-refused` (the reason). With the latter the command runs in
//! single-id mode, as for a user without a subordinate range: every file is
//! the user's, containers have one id, and `rless info` says why. The first
//! command to find out prints it once as a warning. What decides apart
//! from the command's mode (the reaper of abandoned `--rm` containers)
//! reads the recorded answer ([`recorded`]). A killed probe's files in the
//! store's root are swept by the next probe and by the exclusive lock.
//!
//! Limits: a probe that fails for another reason (the namespace cannot be
//! made, the store cannot be written) records nothing, and the command goes
//! on in subuid mode, where the same cause gives its own error. A store
//! moved to another filesystem keeps its old answer; removing the file asks
//! again. Layers extracted before (on a filesystem that kept owners) still
//! show their owners.

use super::ids::{map_args_as, map_child, unshare_and_wait, IdsError};
use crate::userns::IdMode;
use std::io::{self, Read, Write};
use std::path::Path;

/// The file whose presence says the store keeps owners.
pub const KEPT: &str = "owners-kept";
/// The file that holds why the store cannot keep them.
pub const REFUSED: &str = "owners-refused";

/// What the store at `root` lets `mode` do: `mode` itself, or single-id
/// mode where the store's filesystem refuses other owners. The string is a
/// warning to print, the first time that is found out.
pub fn for_store(root: &Path, mode: IdMode) -> (IdMode, Option<String>) {
    // The re-executed child, and commands inside `rless unshare`, keep
    // what the command that made the namespace decided.
    if !matches!(mode, IdMode::SubUid { .. }) || crate::userns::in_userns() {
        return (mode, None);
    }
    if root.join(KEPT).exists() {
        return (mode, None);
    }
    if let Some(m) = refused(root) {
        return (m, None);
    }
    if prepare_root(root).is_err() {
        return (mode, None);
    }
    remove_debris(root);
    match probe(&mode, root) {
        Ok(None) => {
            record(root, KEPT, "");
            (mode, None)
        }
        Ok(Some(why)) => {
            record(root, REFUSED, &why);
            let m = single(root, &why);
            let warning = format!("{}; running in single-id mode", m.reason());
            (m, Some(warning))
        }
        Err(e) => {
            tracing::debug!("cannot ask whether {} keeps owners: {e}", root.display());
            (mode, None)
        }
    }
}

/// `mode`, or single-id mode where the store at `root` is recorded as
/// refusing other owners; never asks. For decisions made away from the
/// command's own (`Ctx::ids`), which must agree with it.
pub fn recorded(root: &Path, mode: IdMode) -> IdMode {
    match mode {
        IdMode::SubUid { .. } if !crate::userns::in_userns() => refused(root).unwrap_or(mode),
        _ => mode,
    }
}

/// Single-id mode, if the store at `root` is recorded as refusing owners.
fn refused(root: &Path) -> Option<IdMode> {
    let why = std::fs::read_to_string(root.join(REFUSED)).ok()?;
    Some(single(root, why.trim()))
}

/// Removes what a killed probe left in the store's root: its file and its
/// unfinished answer (`.tmp-PID-owners-*`, PID gone): before a probe, and
/// with the store's other debris (`Store::remove_debris`).
pub fn remove_debris(root: &Path) {
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name
            .strip_prefix(".tmp-")
            .and_then(|r| r.split_once('-'))
            .is_some_and(|(_, rest)| rest.starts_with("owners-"));
        if ours && !crate::image::store::tmp_owner_runs(&name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn single(root: &Path, why: &str) -> IdMode {
    IdMode::Single {
        reason: format!(
            "the store {} cannot keep files of your subordinate ids ({why}, as on NFS); \
             all files are owned by you. Put the store on a local disk (--root or \
             RLESS_ROOT) to keep image file owners distinct",
            root.display()
        ),
    }
}

/// Makes the store's root as `Store::open` does (private to the user).
fn prepare_root(root: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if root.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
}

/// Writes the answer under a `.tmp-` name and renames it into place, so a
/// killed command leaves debris the next probe sweeps ([`remove_debris`]),
/// never half an answer.
fn record(root: &Path, name: &str, text: &str) {
    let tmp = root.join(format!(".tmp-{}-{name}", std::process::id()));
    let r = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, root.join(name)));
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        tracing::debug!("cannot record {name} in {}: {e}", root.display());
    }
}

/// `Ok(None)`: a file in `dir` can be given to namespace id 1 from inside
/// `mode`'s namespace; `Ok(Some(why))`: it cannot.
fn probe(mode: &IdMode, dir: &Path) -> Result<Option<String>, IdsError> {
    let IdMode::SubUid {
        uid,
        gid,
        uids,
        gids,
    } = mode
    else {
        return Ok(None);
    };
    let sys = |op| move |source| IdsError::Sys { op, source };
    let path = dir.join(format!(".tmp-{}-owners-probe", std::process::id()));
    let (ready_r, ready_w) = io::pipe().map_err(sys("create a pipe"))?;
    let (go_r, go_w) = io::pipe().map_err(sys("create a pipe"))?;
    let (res_r, res_w) = io::pipe().map_err(sys("create a pipe"))?;
    match super::sys::fork().map_err(sys("fork"))? {
        None => {
            drop((ready_r, go_w, res_r));
            super::sys::exit_child(probe_child(&path, ready_w, go_r, res_w))
        }
        Some(child) => {
            drop((ready_w, go_r, res_w));
            let umap = map_args_as(*uid, uids.start, uids.count, None);
            let gmap = map_args_as(*gid, gids.start, gids.count, None);
            let mapped = map_child(child.as_raw(), ready_r, go_w, &umap, &gmap);
            let mut answer = String::new();
            let mut res_r = res_r;
            let read = res_r.read_to_string(&mut answer);
            let _ = nix::sys::wait::waitpid(child, None);
            // The child removes its file; one it could not is debris.
            let _ = std::fs::remove_file(&path);
            mapped?;
            read.map_err(sys("read the probe's answer"))?;
            match answer.split_once(':') {
                Some(("kept", _)) => Ok(None),
                Some(("refused", why)) => Ok(Some(why.to_string())),
                _ => Err(IdsError::Sys {
                    op: "ask whether the store keeps owners",
                    source: io::Error::other(answer),
                }),
            }
        }
    }
}

/// The forked child: unshare, wait to be mapped, try, answer. Its exit
/// status is not used; the answer goes over `res`.
fn probe_child(path: &Path, ready: io::PipeWriter, go: io::PipeReader, res: io::PipeWriter) -> i32 {
    use rustix::fs::{Mode, OFlags};
    let mut res = res;
    if !matches!(unshare_and_wait(ready, go), Ok(true)) {
        return 1;
    }
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC;
    let answer = match rustix::fs::open(path, flags, Mode::RUSR | Mode::WUSR) {
        Err(e) => format!("error:{e}"),
        Ok(fd) => {
            let one = Some(rustix::fs::Uid::from_raw(1));
            let r = rustix::fs::fchown(&fd, one, Some(rustix::fs::Gid::from_raw(1)));
            let held = rustix::fs::fstat(&fd).map(|st| st.st_uid == 1 && st.st_gid == 1);
            let _ = rustix::fs::unlink(path);
            match (r, held) {
                (Ok(()), Ok(true)) => "kept:".to_string(),
                (Err(e), _) => format!("refused:chown: {e}"),
                (Ok(()), Ok(false)) => "refused:a chown did not change the owner".to_string(),
                (Ok(()), Err(e)) => format!("error:{e}"),
            }
        }
    };
    let _ = res.write_all(answer.as_bytes());
    0
}
