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
//! and /etc/group.

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
        let mut words = match Form::of(&ins.rest) {
            Form::Exec(v) => v,
            Form::Shell(s) => change::split_words(&s, &vars).map_err(|w| anyhow!(w))?,
        };
        if words.len() < 2 {
            bail!("{} needs a source and a destination", ins.keyword);
        }
        let dest_word = words.pop().expect("two words");
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
        let dest = if dest_word.starts_with('/') {
            dest_word.clone()
        } else {
            format!("{}/{dest_word}", st.workdir().trim_end_matches('/'))
        };
        if let Some(from) = ins.flag("from") {
            let from = change::split_words(from, &vars)
                .map_err(|w| anyhow!(w))?
                .concat();
            let into_dir = dest_word.ends_with('/') || words.len() > 1;
            self.copy_from(st, n, &from, &words, (&dest, into_dir), owner, done)?;
            st.history(format!("/bin/sh -c #(nop) {}", ins.text()), false);
            return Ok(());
        }
        let mut sources = Vec::new();
        for w in &words {
            if add && w.contains("://") {
                bail!("ADD of a URL is not supported: download it in a RUN step");
            }
            sources.extend(context::sources(&self.context, w, &self.ignore)?);
        }
        let archive = |s: &context::Source| add && !s.is_dir && context::is_archive(&s.path);
        let into_dir = dest_word.ends_with('/')
            || dest_word.ends_with("/.")
            || sources.len() > 1
            || sources.iter().any(|s| s.is_dir || archive(s));
        let image = self.image_of(st)?;
        let ctr = self.children.create(n, &image)?;
        let single = (!into_dir).then(|| sources[0].base_name().to_string());
        let ignore = &self.ignore;
        self.children.copy_in(&ctr, &dest, single.as_deref(), |w| {
            let mut p = context::Packer::new(w, owner);
            for s in &sources {
                if archive(s) {
                    p.add_archive(s, "")?;
                } else if s.is_dir {
                    p.add(s, "", ignore)?;
                } else {
                    p.add(s, s.base_name(), ignore)?;
                }
            }
            p.finish()?;
            Ok(())
        })?;
        st.image = Some(self.children.commit(&ctr)?);
        st.history(format!("/bin/sh -c #(nop) {}", ins.text()), false);
        Ok(())
    }

    /// COPY --from=STAGE|INDEX|IMAGE: each source, a path in that image,
    /// goes through `rless cp` from a container of it into this step's.
    #[allow(clippy::too_many_arguments)]
    fn copy_from(
        &mut self,
        st: &mut Stage,
        n: usize,
        from: &str,
        sources: &[String],
        (dest, into_dir): (&str, bool),
        owner: Option<(u32, u32)>,
        done: &[Stage],
    ) -> Result<()> {
        let src_image = match super::find_stage(done, from) {
            Some(s) => s
                .image
                .clone()
                .ok_or_else(|| anyhow!("--from={from}: that stage has no files"))?,
            None => self.image_config(from)?.0,
        };
        let image = self.image_of(st)?;
        let ctr = self.children.create(n, &image)?;
        let src = self.children.create(n, &src_image)?;
        for path in sources {
            if path.contains(['*', '?', '[']) {
                bail!("wildcards in COPY --from sources are not supported: {path}");
            }
            let clean: Vec<&str> = path
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            if clean.is_empty() || clean.contains(&"..") {
                bail!("COPY --from={from} {path}: name a file or directory below /");
            }
            // Relative to the source image's root, as in docker.
            let abs = format!("/{}", clean.join("/"));
            self.children
                .pipe_copy(
                    (&src, &abs),
                    (&ctr, dest),
                    into_dir,
                    owner.unwrap_or((0, 0)),
                )
                .map_err(|e| anyhow!("--from={from} {path}: {e}"))?;
        }
        self.children.remove_container(&src)?;
        st.image = Some(self.children.commit(&ctr)?);
        Ok(())
    }

    /// `--chown=USER[:GROUP]`: numbers, or names from the image's
    /// /etc/passwd and /etc/group.
    fn owner(&self, st: &Stage, spec: &str) -> Result<(u32, u32)> {
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let file = |name: &str| self.image_file(st, name);
        let lookup = |what: &str, text: Option<String>, name: &str| -> Result<(u32, u32)> {
            if let Ok(n) = name.parse::<u32>() {
                return Ok((n, n));
            }
            text.as_deref()
                .unwrap_or("")
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 3 && f[0] == name)
                .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().unwrap_or(0))))
                .ok_or_else(|| anyhow!("--chown: no {what} {name:?} in the image"))
        };
        let (uid, primary) = lookup("user", file("etc/passwd"), u)?;
        let gid = match g {
            Some(g) => lookup("group", file("etc/group"), g)?.0,
            None if u.parse::<u32>().is_ok() => uid,
            None => primary,
        };
        // Files of an id the namespace does not map could not be made.
        let limit = self.ctx.ids.id_limit().unwrap_or(1);
        if let Some(id) = [uid, gid].into_iter().find(|&i| i >= limit) {
            bail!("--chown={spec}: id {id} is not mapped in the user namespace (only your subordinate id range is mapped, or in single-id mode only your own id)");
        }
        Ok((uid, gid))
    }

    /// A file of the current image, read from the newest layer that has it.
    fn image_file(&self, st: &Stage, rel: &str) -> Option<String> {
        let store = self.ctx.store(LockMode::Shared).ok()?;
        let index = store.index().ok()?;
        let img = find_image(&index, st.image.as_deref()?).ok()?;
        img.layers.iter().rev().find_map(|l| {
            std::fs::read_to_string(store.layer_dir(&l.diff_id).join("diff").join(rel)).ok()
        })
    }
}
