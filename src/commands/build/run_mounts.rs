//! What a RUN step does with its `--mount` and `--network` flags
//! ([`super::mounts`] reads them).
//!
//! Theory of operation: before the step's cache key is made, its flags
//! are read with the variables in scope and each mount's source is found
//! ([`Build::run_inputs`]): a bind's files in the context (or the image
//! of the stage or image `from=` names), whose digest is part of the key
//! as a COPY's is; a cache mount's or secret's contents are not. If the
//! step must run, [`Build::mount_args`] makes what the mounts need in a
//! scratch directory of the store, `build-mounts/tmp/PID-…` (a copy of a
//! bind's files), a secret's file in the user's runtime directory
//! (`build-secrets/PID-…`: never in the store), takes the cache mounts'
//! locks, and
//! gives the `rless run` options; [`Build::release`] drops the locks and
//! removes the scratch directory once the step's command has ended (with
//! `rless unshare rm -rf` when the command left files of other ids), and
//! the secrets' directory. The next build (and `system prune`) removes
//! scratch directories of a build that was killed; the next build, its
//! secrets' directory.

use super::context::{self, Source};
use super::mounts::{self, Mount, Owner, SecretSource, Sharing};
use super::parse::Instruction;
use super::{Build, Stage};
use anyhow::{anyhow, bail, Context as _, Result};
use rless::image::change;
use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A RUN's flags, read and resolved.
#[derive(Default)]
pub struct Planned {
    mounts: Vec<(Mount, Option<BindFrom>)>,
    /// `Some`: the step's own `--network` (`None` in it: the default).
    network: Option<Option<String>>,
}

/// Where a bind's files come from.
enum BindFrom {
    Context(Source),
    /// An image's id, and the absolute path in it.
    Image(String, String),
}

/// What a step holds while its command runs.
#[derive(Default)]
pub struct Prepared {
    /// `rless run` options.
    pub args: Vec<String>,
    /// The step's network, if its RUN gives one.
    pub network: Option<Option<String>>,
    scratch: Option<PathBuf>,
    /// The secrets' files' directory, in the user's runtime directory.
    secrets: Option<PathBuf>,
    /// `env=` secrets, `NAME=value`: for the step's process alone.
    pub secret_env: Vec<String>,
    /// The cache mounts' locks.
    locks: Vec<File>,
    /// The cache directories this step holds, by name: a second mount of
    /// one takes it again, never its lock (which would wait for itself).
    caches: Vec<(String, PathBuf)>,
}

/// `path` absolute: a relative one is below the working directory.
fn absolute(path: &str, workdir: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", workdir.trim_end_matches('/'))
    }
}

impl Build<'_> {
    /// Reads RUN `ins`'s flags with `st`'s variables and finds the bind
    /// sources (`done`: the stages before this one); the text the step's
    /// cache key takes for them. The result waits for [`Build::mount_args`].
    pub(super) fn run_inputs(
        &mut self,
        st: &Stage,
        ins: &Instruction,
        done: &[Stage],
    ) -> Result<String> {
        let vars = st.vars();
        let mut plan = Planned::default();
        let mut key = String::new();
        for (k, v) in &ins.flags {
            let value = change::expand_word(v, &vars).map_err(|w| anyhow!("--{k}={v}: {w}"))?;
            match k.as_str() {
                "network" => plan.network = Some(mounts::network(&value)?),
                "mount" => {
                    let m = mounts::parse(&value)?;
                    let from = match &m {
                        Mount::Bind { source, from, .. } => {
                            let (f, text) = self.bind_source(source, from.as_deref(), done)?;
                            key.push_str(&text);
                            key.push('\0');
                            Some(f)
                        }
                        _ => None,
                    };
                    plan.mounts.push((m, from));
                }
                _ => {}
            }
        }
        self.pending = Some(plan);
        Ok(key)
    }

    /// A bind's source: its files and the text of the cache key for them.
    fn bind_source(
        &mut self,
        source: &str,
        from: Option<&str>,
        done: &[Stage],
    ) -> Result<(BindFrom, String)> {
        let Some(from) = from else {
            if context::clean(source).is_none() {
                bail!("source={source}: outside the build context");
            }
            let found = context::sources(&self.context, source, &self.ignore)?;
            let [one] = &found[..] else {
                bail!("source={source}: names {} files, not one", found.len());
            };
            let digest =
                super::cache::sources_digest(&found, |_| false, (None, None), &self.ignore)?;
            return Ok((BindFrom::Context(one.clone()), format!("bind {digest}")));
        };
        let image = match super::stages::resolve(&self.plan.names, self.at, from)
            .map_err(|why| anyhow!("from={from}: {why}"))?
        {
            super::stages::Source::Stage(i) => {
                let s = &done[i];
                if s.skipped {
                    bail!("from={from}: that stage was not built");
                }
                s.image
                    .clone()
                    .ok_or_else(|| anyhow!("from={from}: that stage has no files"))?
            }
            super::stages::Source::Image => self.image_config(from)?.0,
        };
        let clean = context::clean(source).unwrap_or_default();
        let path = format!("/{clean}");
        let text = format!("bind-from {image} {path}");
        Ok((BindFrom::Image(image, path), text))
    }

    /// Makes what the planned mounts of step `n` need; the `rless run`
    /// options. On an error, what was made is removed.
    pub(super) fn mount_args(&mut self, st: &Stage, n: usize) -> Result<Prepared> {
        let plan = self.pending.take().unwrap_or_default();
        let mut p = Prepared {
            network: plan.network,
            ..Default::default()
        };
        if plan.mounts.is_empty() {
            return Ok(p);
        }
        let made = self.make_mounts(st, n, plan.mounts, &mut p);
        if let Err(e) = made {
            self.release(p);
            return Err(e);
        }
        Ok(p)
    }

    fn make_mounts(
        &mut self,
        st: &Stage,
        n: usize,
        all: Vec<(Mount, Option<BindFrom>)>,
        p: &mut Prepared,
    ) -> Result<()> {
        mounts::sweep_scratch(&self.ctx.root);
        let base = mounts::scratch_dir(&self.ctx.root);
        fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
        let scratch = base.join(format!(
            "{}-{n}-{}",
            std::process::id(),
            rless::container::ContainerId::random().short()
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))?;
        p.scratch = Some(scratch.clone());
        let workdir = st.workdir();
        let arg = |kind: &str, src: Option<&Path>, target: &str, readonly: bool| {
            let mut a = format!("type={kind}");
            if let Some(s) = src {
                a.push_str(&format!(",src={}", s.display()));
            }
            a.push_str(&format!(",dst={}", absolute(target, &workdir)));
            if readonly {
                a.push_str(",readonly");
            }
            a
        };
        for (i, (m, from)) in all.into_iter().enumerate() {
            let here = scratch.join(i.to_string());
            let spec = match m {
                Mount::Cache {
                    target,
                    id,
                    sharing,
                    owner,
                    readonly,
                } => {
                    let id = id.unwrap_or_else(|| absolute(&target, &workdir));
                    let dir = self.cache_mount(&id, sharing, owner, &here, p)?;
                    arg("bind", Some(&dir), &target, readonly)
                }
                Mount::Bind {
                    target, rw, source, ..
                } => {
                    match from.expect("a bind's source was found") {
                        BindFrom::Context(src) => copy_source(&src, &here, &self.ignore)?,
                        BindFrom::Image(image, path) => {
                            let ctr = self.children.create(n, &image)?;
                            let got = self.children.output(&[
                                "cp",
                                "-L",
                                &format!("{ctr}:{path}"),
                                &here.display().to_string(),
                            ]);
                            self.children.remove_container(&ctr)?;
                            got.map_err(|e| {
                                anyhow!("source={source}: {}", e.to_string().replace(&ctr, ""))
                            })?;
                        }
                    }
                    arg("bind", Some(&here), &target, !rw)
                }
                Mount::Tmpfs { target, size } => {
                    let mut a = arg("tmpfs", None, &target, false);
                    if let Some(s) = size {
                        a.push_str(&format!(",tmpfs-size={s}"));
                    }
                    a
                }
                Mount::Secret {
                    id,
                    target,
                    required,
                    owner,
                    env,
                } => {
                    let Some((_, source)) = self.secrets.iter().find(|(s, _)| *s == id) else {
                        if required {
                            bail!("secret {id} is required but was not given (build --secret id={id},src=FILE)");
                        }
                        continue;
                    };
                    let value = match source {
                        SecretSource::File(f) => fs::read(f)
                            .with_context(|| format!("secret {id}: cannot read {}", f.display()))?,
                        SecretSource::Env(v) => std::env::var_os(v)
                            .map(|v| v.into_encoded_bytes())
                            .ok_or_else(|| anyhow!("secret {id}: ${v} is not set"))?,
                    };
                    if let Some(name) = env {
                        let text = String::from_utf8(value.clone())
                            .ok()
                            .filter(|t| !t.contains('\0'))
                            .ok_or_else(|| {
                                anyhow!("secret {id}: env={name} needs a UTF-8 value without NUL")
                            })?;
                        p.secret_env.push(format!("{name}={text}"));
                        // As BuildKit: a variable alone, unless a target
                        // asks for the file too.
                        if target.is_none() {
                            continue;
                        }
                    }
                    // Never in the store: in the user's runtime
                    // directory (a tmpfs, gone at logout or reboot).
                    let here = match &p.secrets {
                        Some(d) => d.join(i.to_string()),
                        None => {
                            let d = secrets_dir(n)?;
                            p.secrets = Some(d.clone());
                            d.join(i.to_string())
                        }
                    };
                    let mut f = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&here)
                        .with_context(|| format!("cannot create {}", here.display()))?;
                    std::io::Write::write_all(&mut f, &value)
                        .with_context(|| format!("cannot write {}", here.display()))?;
                    drop(f);
                    self.set_owner(&here, owner)?;
                    let target = target.unwrap_or_else(|| format!("/run/secrets/{id}"));
                    arg("bind", Some(&here), &target, true)
                }
            };
            p.args.extend(["--mount".into(), spec]);
        }
        Ok(())
    }

    /// Cache mount `id`'s directory, made with `owner` the first time;
    /// its lock taken as `sharing` says (held in `p`). `private` while
    /// another step uses it: a fresh directory at `fresh`.
    fn cache_mount(
        &self,
        id: &str,
        sharing: Sharing,
        owner: Owner,
        fresh: &Path,
        p: &mut Prepared,
    ) -> Result<PathBuf> {
        // Nothing is made for an owner that cannot be.
        self.mapped(owner)?;
        let dir = mounts::cache_dir(&self.ctx.root);
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let name = super::cache::key(&["cache mount", id]);
        if let Some((_, held)) = p.caches.iter().find(|(n, _)| *n == name) {
            return Ok(held.clone());
        }
        let lock_path = dir.join(format!("{name}.lock"));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        let locked = |r: std::io::Result<()>| {
            r.with_context(|| format!("cannot lock {}", lock_path.display()))
        };
        match sharing {
            Sharing::Shared => locked(wait_lock(&lock, true))?,
            Sharing::Locked => {
                if let Err(fs::TryLockError::WouldBlock) = lock.try_lock() {
                    if !self.quiet {
                        println!("waiting for cache mount {id} (sharing=locked)");
                    }
                    locked(wait_lock(&lock, false))?;
                }
            }
            Sharing::Private => {
                if lock.try_lock().is_err() {
                    self.make_dir(fresh, owner)?;
                    return Ok(fresh.to_path_buf());
                }
            }
        }
        if let Some(sig) = super::steps::stopped() {
            return Err(super::StepExit(128 + sig).into());
        }
        p.locks.push(lock);
        let path = dir.join(&name);
        if !path.is_dir() {
            // Made whole under a temporary name, then renamed into place.
            let tmp = dir.join(format!(".tmp-{name}-{}", std::process::id()));
            let _ = fs::remove_dir(&tmp);
            if let Err(e) = self.make_dir(&tmp, owner) {
                let _ = rless::image::store::remove_tree(&tmp);
                return Err(e);
            }
            // Never over one another build made meanwhile (a plain rename
            // would replace it while empty, under that build's mount).
            let renamed = rustix::fs::renameat_with(
                rustix::fs::CWD,
                &tmp,
                rustix::fs::CWD,
                &path,
                rustix::fs::RenameFlags::NOREPLACE,
            )
            .or_else(|e| match e {
                // A filesystem without it: a plain rename.
                rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS => {
                    fs::rename(&tmp, &path).map_err(|_| e)
                }
                e => Err(e),
            });
            if renamed.is_err() && !path.is_dir() {
                let _ = rless::image::store::remove_tree(&tmp);
                bail!("cannot make cache mount {}", path.display());
            }
            let _ = fs::remove_dir(&tmp);
        }
        p.caches.push((name, path.clone()));
        Ok(path)
    }

    fn make_dir(&self, path: &Path, owner: Owner) -> Result<()> {
        fs::create_dir(path).with_context(|| format!("cannot create {}", path.display()))?;
        self.set_owner(path, owner)
    }

    /// Gives `path` `owner`'s mode and (in the user namespace) ids.
    fn set_owner(&self, path: &Path, owner: Owner) -> Result<()> {
        fs::set_permissions(path, fs::Permissions::from_mode(owner.mode))
            .with_context(|| format!("cannot chmod {}", path.display()))?;
        if (owner.uid, owner.gid) == (0, 0) {
            return Ok(());
        }
        self.mapped(owner)?;
        self.children.output(&[
            "unshare",
            "chown",
            &format!("{}:{}", owner.uid, owner.gid),
            &path.display().to_string(),
        ])?;
        Ok(())
    }

    /// `owner`'s ids are mapped in the user namespace.
    fn mapped(&self, owner: Owner) -> Result<()> {
        let limit = self.ctx.ids.id_limit().unwrap_or(1);
        if let Some(id) = [owner.uid, owner.gid].into_iter().find(|&i| i >= limit) {
            bail!("id {id} is not mapped in the user namespace (only your subordinate id range is mapped, or in single-id mode only your own id)");
        }
        Ok(())
    }

    /// After the step's command: the locks dropped, the scratch directory
    /// removed (a failure is a warning: the next build sweeps it).
    pub(super) fn release(&self, p: Prepared) {
        drop(p.locks);
        for dir in [p.secrets, p.scratch].into_iter().flatten() {
            if rless::image::store::remove_tree(&dir).is_ok() {
                continue;
            }
            let path = dir.display().to_string();
            if let Err(e) = self.children.output(&["unshare", "rm", "-rf", &path]) {
                eprintln!("rless: warning: cannot remove {path}: {e}");
            }
        }
    }
}

/// A new directory (0700) for step `n`'s secret files in the user's
/// runtime directory, `build-secrets/PID-N-RANDOM`: the next build
/// removes it if this one is killed before [`Build::release`].
fn secrets_dir(n: usize) -> Result<PathBuf> {
    let base = rless::network::prepare_user_runtime_dir(mounts::SECRETS_DIR)?;
    let dir = base.join(format!(
        "{}-{n}-{}",
        std::process::id(),
        rless::container::ContainerId::random().short()
    ));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Takes `lock` (`shared` or exclusive), waiting while other builds hold
/// it; gives up when the build is asked to stop. A blocking `flock` would
/// not: the build's handler of Ctrl-C and SIGTERM restarts system calls,
/// so the build waited on, deaf to them.
fn wait_lock(lock: &File, shared: bool) -> std::io::Result<()> {
    loop {
        let tried = match shared {
            true => lock.try_lock_shared(),
            false => lock.try_lock(),
        };
        match tried {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        if super::steps::stopped().is_some() {
            // The caller sees the stop and says so.
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Copies the context's `src` to `to` as COPY would send it: the ignore
/// file's exclusions left out, modes and symlinks kept (a directory's
/// mode is set once its contents are in, so a read-only one can be filled).
fn copy_source(src: &Source, to: &Path, ignore: &super::ignore::Ignore) -> Result<()> {
    let mut entries = vec![(src.path.clone(), to.to_path_buf())];
    if src.is_dir {
        let err = |rel: String, e: std::io::Error| anyhow!("cannot read {rel}: {e}");
        context::walk(
            &src.path,
            &src.rel,
            "",
            ignore,
            &err,
            &mut |path, _, name| {
                entries.push((path.to_path_buf(), to.join(name)));
                Ok(())
            },
        )?;
    }
    let mut dirs = Vec::new();
    for (from, to) in entries {
        let meta = fs::symlink_metadata(&from)
            .with_context(|| format!("cannot read {}", from.display()))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&to)
                .with_context(|| format!("cannot create {}", to.display()))?;
            dirs.push((to, meta.permissions()));
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)
                .with_context(|| format!("cannot create {}", to.display()))?;
        } else if ft.is_file() {
            fs::copy(&from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
        }
    }
    for (dir, perms) in dirs.into_iter().rev() {
        fs::set_permissions(&dir, perms)
            .with_context(|| format!("cannot chmod {}", dir.display()))?;
    }
    Ok(())
}
