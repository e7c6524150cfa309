//! COPY and ADD: from the context, or (`--from`) from an earlier stage or
//! another image.
//!
//! Theory of operation: a step container is made from the current image;
//! the sources are sent into it as tar streams through `rless
//! build-copy` ([`super::helper`]), then it is committed. From the
//! context the build packs the stream itself ([`super::context`]); with
//! `--from`, a second container is made from the source image and `rless
//! cp SRC:PATH -` writes each source's stream straight into `build-copy`'s
//! input (a pipe between the two children; the build does not see the
//! data). `--chown` names are read from the current image's /etc/passwd
//! and /etc/group. Before anything is made the step is looked up in the
//! build cache ([`super::cache`]): from the context by a digest of the
//! sources (their names, contents and modes, not their times), with
//! `--from` by the source image's id and the paths.

use super::heredoc::{self, Heredoc};
use super::parse::{Form, Instruction};
use super::{context, Build, Stage};
use anyhow::{anyhow, bail, Result};
use rless::image::change;
use rless::image::find_image;
use rless::image::store::LockMode;

impl Build<'_> {
    pub(super) fn copy_step(
        &mut self,
        st: &mut Stage,
        ins: &Instruction,
        n: usize,
        done: &[Stage],
    ) -> Result<()> {
        let add = ins.keyword == "ADD";
        let vars = st.vars();
        // The heredocs among the words, by index.
        let mut inline: Vec<(usize, &Heredoc)> = Vec::new();
        let mut words: Vec<String> = match Form::of(&ins.rest) {
            // Docker expands the JSON form's elements too, one word each.
            Form::Exec(v) => v
                .iter()
                .map(|w| change::expand_word(w, &vars).map_err(|w| anyhow!(w)))
                .collect::<Result<_>>()?,
            Form::Shell(s) if ins.heredocs.is_empty() => {
                change::split_words(&s, &vars).map_err(|w| anyhow!(w))?
            }
            Form::Shell(s) => {
                let mut docs = ins.heredocs.iter();
                let mut words = Vec::new();
                for (i, w) in heredoc::raw_words(&s, ins.escape).iter().enumerate() {
                    match heredoc::opened(w, ins.escape).and_then(|_| docs.next()) {
                        Some(d) => {
                            inline.push((i, d));
                            words.push(format!("<<{}", d.name));
                        }
                        None => words.push(change::expand_word(w, &vars).map_err(|w| anyhow!(w))?),
                    }
                }
                words
            }
        };
        if words.len() < 2 {
            bail!("{} needs a source and a destination", ins.keyword);
        }
        let dest_word = words.pop().expect("two words");
        if inline.iter().any(|(i, _)| *i == words.len()) {
            bail!("{} cannot take a heredoc as its destination", ins.keyword);
        }
        let owner = match ins.flag("chown") {
            Some(c) => Some(
                self.owner(
                    st,
                    &change::split_words(c, &vars)
                        .map_err(|w| anyhow!(w))?
                        .concat(),
                )?,
            ),
            None => None,
        };
        let mode = match ins.flag("chmod") {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| anyhow!("--chmod={m}: use an octal mode such as 755"))?,
            ),
            None => None,
        };
        let dest = if dest_word.starts_with('/') {
            dest_word.clone()
        } else {
            format!("{}/{dest_word}", st.workdir().trim_end_matches('/'))
        };
        if ins.flag("from").is_some() && !inline.is_empty() {
            bail!("COPY --from cannot take a heredoc as a source");
        }
        if ins.flag("from").is_some() && ins.flag("exclude").is_some() {
            bail!("COPY --from with --exclude is not supported");
        }
        let parents = super::parents::wanted(ins).map_err(|e| anyhow!(e))?;
        if let Some(from) = ins.flag("from") {
            let from = change::split_words(from, &vars)
                .map_err(|w| anyhow!(w))?
                .concat();
            if from.is_empty() {
                bail!(
                    "--from={}: names no stage or image",
                    ins.flag("from").unwrap_or("")
                );
            }
            let into_dir = parents || dest_word.ends_with('/') || words.len() > 1;
            let to = (dest.as_str(), into_dir, parents);
            if let Some(key) = self.copy_from(st, ins, n, &from, &words, to, (owner, mode), done)? {
                st.history(format!("/bin/sh -c #(nop) {}", ins.text()), false);
                self.remember(st, &key, true)?;
            }
            return Ok(());
        }
        let checksum = match ins.flag("checksum").filter(|_| add) {
            Some(c) => Some(super::fetch::Checksum::parse(c)?),
            None => None,
        };
        for (i, w) in words.iter().enumerate() {
            if add && super::fetch::is_git(w) {
                bail!("ADD {w}: git sources are not supported (rless does not fetch git repositories)");
            }
            let url = add && super::fetch::is_url(w);
            if checksum.is_some() && !url && !inline.iter().any(|(k, _)| *k == i) {
                bail!("ADD --checksum: {w} is not a URL (a checksum is checked for http:// and https:// sources only)");
            }
        }
        // `--exclude=PATTERN`s, each below every source it applies to.
        let excluded = self.excluded(ins, &words, &vars)?;
        let ignore = excluded.as_ref().unwrap_or(&self.ignore);
        let mut sources = Vec::new();
        // With `--parents`, the name each source is sent under.
        let mut names = Vec::new();
        // Downloads, kept (their files) until the step is done.
        let mut fetched = Vec::new();
        // The heredocs' files, kept likewise.
        let files = match inline.is_empty() {
            true => None,
            false => Some(heredoc::Files::new(&self.ctx.root)?),
        };
        let mut made = Vec::new();
        for (i, w) in words.iter().enumerate() {
            if let (Some((_, d)), Some(files)) = (inline.iter().find(|(k, _)| *k == i), &files) {
                // As BuildKit: an unquoted delimiter expands the body.
                let content = match d.expand {
                    true => heredoc::expand(&d.content(), &vars)
                        .map_err(|e| anyhow!("heredoc <<{}: {e}", d.name))?,
                    false => d.content(),
                };
                let path = files.write(&d.name, &content, 0o644)?;
                made.push(path.clone());
                names.push(d.name.clone());
                sources.push(context::Source {
                    rel: d.name.clone(),
                    path,
                    is_dir: false,
                });
                continue;
            }
            if add && super::fetch::is_url(w) {
                let f = super::fetch::fetch(w)?;
                if let Some(c) = &checksum {
                    c.verify(w, &f.source.path)?;
                }
                names.push(f.source.base_name().to_string());
                sources.push(f.source.clone());
                fetched.push(f);
                continue;
            }
            let (w, dropped) = match parents {
                true => super::parents::resolve_word(w),
                false => (w.clone(), 0),
            };
            match context::sources(&self.context, &w, ignore) {
                Ok(found) => {
                    for s in found {
                        names.push(super::parents::kept_name(&s.rel, dropped));
                        sources.push(s);
                    }
                }
                // As BuildKit documents it: what `--exclude` leaves out is
                // not copied, a named file too; a source it leaves nothing
                // of copies nothing (the ignore file's misses still fail).
                Err(context::ContextError::Missing(_))
                    if excluded.is_some()
                        && context::sources(&self.context, &w, &self.ignore).is_ok() => {}
                Err(e) => return Err(e.into()),
            }
        }
        // A download is never extracted.
        let archive = |s: &context::Source| {
            add && !s.is_dir
                && !fetched.iter().any(|f| f.source.path == s.path)
                && !made.contains(&s.path)
                && super::add_tar::is_archive(&s.path)
        };
        let into_dir = parents
            || dest_word.ends_with('/')
            || dest_word.ends_with("/.")
            || sources.len() != 1
            || sources.iter().any(|s| s.is_dir || archive(s));
        // The build cache's key: what is sent, but for the files' times
        // (and with `--parents`, the parent directories' modes).
        let mut digest = super::cache::sources_digest(&sources, archive, (owner, mode), ignore)?;
        let named: Vec<(context::Source, String)> =
            sources.iter().cloned().zip(names.iter().cloned()).collect();
        let context_dir = self.context.clone();
        if parents {
            digest.push_str(&super::parents::ParentsPacker::new(&context_dir).parents_text(&named));
        }
        let key = self.step_key(st, ins, &digest);
        if self.cached(st, &key)? {
            return Ok(());
        }
        let image = self.image_of(st)?;
        let ctr = self.children.create(n, &image)?;
        let single = (!into_dir).then(|| sources[0].base_name().to_string());
        let ignore = excluded.as_ref().unwrap_or(&self.ignore);
        let store = self.ctx.root.clone();
        // An archive's refusal (the step's own, not the helper's) and
        // what archives left out.
        let mut refused = None;
        let mut warnings = Vec::new();
        let copied = self
            .children
            .copy_in(&ctr, &dest, single.as_deref(), owner, |w| {
                let mut p = context::Packer::new(w, owner).with_mode(mode);
                let mut pp = super::parents::ParentsPacker::new(&context_dir);
                for (s, name) in &named {
                    if parents {
                        pp.add(&mut p, s, name, ignore)?;
                    } else if archive(s) {
                        match p.add_archive(s, "", &store) {
                            Ok(left) => warnings.extend(left.warnings(&s.rel)),
                            Err(
                                e @ (context::ContextError::Archive { .. }
                                | context::ContextError::Full { .. }),
                            ) => {
                                refused = Some(e.to_string());
                                return Err(e.into());
                            }
                            Err(e) => return Err(e.into()),
                        }
                    } else if s.is_dir {
                        p.add(s, "", ignore)?;
                    } else {
                        p.add(s, s.base_name(), ignore)?;
                    }
                }
                p.finish()?;
                Ok(())
            });
        if let Some(why) = refused {
            bail!("{why}");
        }
        copied?;
        for w in warnings {
            eprintln!("rless: warning: {}", rless::message::printable(&w));
        }
        st.image = Some(self.children.commit(&ctr)?);
        st.history(format!("/bin/sh -c #(nop) {}", ins.text()), false);
        self.remember(st, &key, true)
    }

    /// COPY --from=STAGE|INDEX|IMAGE: each source, a path in that image,
    /// goes through `rless cp` from a container of it into this step's.
    /// The step's cache key when it ran; `None`: taken from the cache.
    #[allow(clippy::too_many_arguments)]
    fn copy_from(
        &mut self,
        st: &mut Stage,
        ins: &Instruction,
        n: usize,
        from: &str,
        sources: &[String],
        (dest, into_dir, parents): (&str, bool, bool),
        (owner, mode): (Option<(u32, u32)>, Option<u32>),
        done: &[Stage],
    ) -> Result<Option<String>> {
        // A stage that has ended, else an image (a variable's value is
        // checked here; a literal one was before the build began).
        let src_image = match super::stages::resolve(&self.plan.names, self.at, from)
            .map_err(|why| anyhow!("--from={from}: {why}"))?
        {
            super::stages::Source::Stage(i) => {
                let s = &done[i];
                if s.skipped {
                    bail!("--from={from}: that stage was not built");
                }
                s.image
                    .clone()
                    .ok_or_else(|| anyhow!("--from={from}: that stage has no files"))?
            }
            super::stages::Source::Image => self.image_config(from)?.0,
        };
        // Each source as an absolute path of the source image; a wildcard
        // in the last component gives the names it matches there.
        let mut paths = Vec::new();
        for path in sources {
            // `--parents`: the components before a pivot (`/./`) are not kept.
            let (resolved, dropped) = match parents {
                true => super::parents::resolve_word(path),
                false => (path.clone(), 0),
            };
            let clean: Vec<&str> = resolved
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            if clean.is_empty() || clean.contains(&"..") {
                bail!("COPY --from={from} {path}: name a file or directory below /");
            }
            let (last, dir) = clean.split_last().expect("not empty");
            if dir.iter().any(|c| c.contains(['*', '?', '['])) {
                bail!("COPY --from={from} {path}: wildcards only in the last component");
            }
            if !last.contains(['*', '?', '[']) {
                // Relative to the source image's root, as in docker.
                paths.push((path, format!("/{}", clean.join("/")), dropped));
                continue;
            }
            let found = super::glob::matches_in(self.ctx, &src_image, dir, last)
                .map_err(|e| anyhow!("--from={from} {path}: {e}"))?;
            if found.is_empty() {
                bail!("--from={from} {path}: no such file or directory");
            }
            paths.extend(found.into_iter().map(|p| (path, p, dropped)));
        }
        let into_dir = into_dir || paths.len() > 1;
        // The build cache's key: the source image and what is taken.
        let content = format!("from {src_image} {into_dir} {paths:?}");
        let key = self.step_key(st, ins, &content);
        if self.cached(st, &key)? {
            return Ok(None);
        }
        let image = self.image_of(st)?;
        let ctr = self.children.create(n, &image)?;
        let src = self.children.create(n, &src_image)?;
        for (path, abs, dropped) in paths {
            // With `--parents`, into the directory of its kept parents.
            let to = match super::parents::kept_name(&abs, dropped).rsplit_once('/') {
                Some((dirs, _)) if parents => format!("{}/{dirs}", dest.trim_end_matches('/')),
                _ => dest.to_string(),
            };
            self.children
                .pipe_copy((&src, &abs), (&ctr, &to), into_dir, (owner, mode))
                .map_err(|e| anyhow!("--from={from} {path}: {e}"))?;
        }
        self.children.remove_container(&src)?;
        st.image = Some(self.children.commit(&ctr)?);
        Ok(Some(key))
    }

    /// The ignore rules with `--exclude=PATTERN`s added (`None`: none
    /// given): as docker, a pattern applies below each source, a wildcard
    /// source's directory for a wildcard (`--exclude=*.txt hom*`).
    fn excluded(
        &self,
        ins: &Instruction,
        words: &[String],
        vars: &[(String, String)],
    ) -> Result<Option<super::ignore::Ignore>> {
        let mut pats = Vec::new();
        for (k, v) in &ins.flags {
            if k != "exclude" {
                continue;
            }
            let p = change::split_words(v, vars)
                .map_err(|w| anyhow!(w))?
                .concat();
            if p.is_empty() || p.starts_with('!') {
                bail!("--exclude={v}: give a pattern of the files to leave out");
            }
            pats.push(p);
        }
        if pats.is_empty() {
            return Ok(None);
        }
        let mut all = Vec::new();
        for w in words {
            let Some(rel) = context::clean(w) else {
                continue;
            };
            // Below a named directory; beside a named file or a
            // wildcard's matches, so that the pattern matches their names.
            let wild = rel
                .rsplit('/')
                .next()
                .unwrap_or("")
                .contains(['*', '?', '[']);
            let base = match rel.rsplit_once('/') {
                _ if !wild && (rel.is_empty() || self.context.join(&rel).is_dir()) => rel.clone(),
                Some((dir, _)) => dir.to_string(),
                None => String::new(),
            };
            for p in &pats {
                all.push(match base.is_empty() {
                    true => p.clone(),
                    false => format!("{base}/{p}"),
                });
            }
        }
        Ok(Some(self.ignore.with_excludes(&all)))
    }

    /// `--chown=USER[:GROUP]`: numbers, or names from the image's
    /// /etc/passwd and /etc/group.
    fn owner(&self, st: &Stage, spec: &str) -> Result<(u32, u32)> {
        let (uid, gid) = self
            .ids(st, spec, false)
            .map_err(|e| anyhow!("--chown={spec}: {e}"))?;
        // Files of an id the namespace does not map could not be made.
        if let Some(id) = self.unmapped(uid, gid) {
            bail!("--chown={spec}: id {id} is not mapped in the user namespace (only your subordinate id range is mapped, or in single-id mode only your own id)");
        }
        Ok((uid, gid))
    }

    /// The owner of the directories a WORKDIR creates: the current USER's
    /// ids, as buildkit and podman make them (so a later RUN as that user
    /// can write there); root when there is no USER, or when the user
    /// namespace does not map its ids (single-id mode).
    pub(super) fn workdir_owner(&self, st: &Stage) -> Result<Option<(u32, u32)>> {
        let Some(user) = st.config["config"]["User"]
            .as_str()
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        let (uid, gid) = self
            .ids(st, user, true)
            .map_err(|e| anyhow!("USER {user}: {e}"))?;
        Ok(self.unmapped(uid, gid).is_none().then_some((uid, gid)))
    }

    /// The first of `uid`, `gid` the user namespace does not map.
    fn unmapped(&self, uid: u32, gid: u32) -> Option<u32> {
        let limit = self.ctx.ids.id_limit().unwrap_or(1);
        [uid, gid].into_iter().find(|&i| i >= limit)
    }

    /// `USER[:GROUP]` as ids. Without a group, a name gives its primary
    /// group; a number gives the same number for `--chown`, and for a
    /// `USER` (as the runtime does) the primary group of its passwd line,
    /// else 0.
    fn ids(&self, st: &Stage, spec: &str, as_user: bool) -> Result<(u32, u32)> {
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let passwd = self.image_file(st, "etc/passwd");
        let lines = |text: &Option<String>| -> Vec<Vec<String>> {
            text.as_deref()
                .unwrap_or("")
                .lines()
                .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
                .filter(|f| f.len() > 3)
                .collect()
        };
        let users = lines(&passwd);
        let (uid, primary) = match u.parse::<u32>() {
            Ok(n) if as_user => (
                n,
                users
                    .iter()
                    .find(|f| f[2] == n.to_string())
                    .and_then(|f| f[3].parse().ok())
                    .unwrap_or(0),
            ),
            Ok(n) => (n, n),
            Err(_) => users
                .iter()
                .find(|f| f[0] == u)
                .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().unwrap_or(0))))
                .ok_or_else(|| anyhow!("no user {u:?} in the image"))?,
        };
        let gid = match g {
            None => primary,
            Some(g) => match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => lines(&self.image_file(st, "etc/group"))
                    .iter()
                    .find(|f| f[0] == g)
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| anyhow!("no group {g:?} in the image"))?,
            },
        };
        Ok((uid, gid))
    }

    /// A file of the current image, read from the newest layer that has it.
    fn image_file(&self, st: &Stage, rel: &str) -> Option<String> {
        let store = super::steps::store(self.ctx, LockMode::Shared).ok()?;
        let index = store.index().ok()?;
        let img = find_image(&index, st.image.as_deref()?).ok()?;
        img.layers.iter().rev().find_map(|l| {
            std::fs::read_to_string(store.layer_dir(&l.diff_id).join("diff").join(rel)).ok()
        })
    }
}
