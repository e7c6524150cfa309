//! Rename, within a layer and across layers.
//!
//! # Theory of operation
//!
//! Rename copies the source up; a directory with lower parts is first
//! materialized (see `copyup`), so the move is a plain `renameat` inside
//! the upper layer, and the old name is whited out if a lower layer has
//! it. `RENAME_EXCHANGE` brings both objects complete into the upper
//! layer the same way, swaps them with one `renameat2`, and marks a
//! directory opaque where it lands on a name a lower layer also has.
//! `RENAME_WHITEOUT` is refused (`EINVAL`), as kernel overlayfs does.
//!
//! Like the other requests that change the union (`write.rs`), a rename
//! holds the namespace lock exclusively for its whole run.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use fuser::RenameFlags;
use rustix::fs::Stat;
use rustix::io::Errno;

use crate::fs::{os, Found, Overlay, R};
use crate::links::HardLinks;
use crate::tree::{join, UPPER};
use crate::write::check_name;

impl Overlay {
    pub fn do_rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> R<()> {
        if flags.contains(RenameFlags::RENAME_WHITEOUT) {
            return Err(Errno::INVAL);
        }
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::INVAL);
            }
            return self.do_exchange(parent, name, newparent, newname);
        }
        check_name(newname)?;
        let _ns = self.ns.write().unwrap();
        let (pl, pp) = self.locate(parent)?;
        let (npl, npp) = self.locate(newparent)?;
        let src = self
            .resolve(&pl, &pp, name.as_bytes())?
            .ok_or(Errno::NOENT)?;
        let dst = self.resolve(&npl, &npp, newname.as_bytes())?;
        let src_path = join(&pp, name.as_bytes());
        let dst_path = join(&npp, newname.as_bytes());
        let src_key = (self.layers[src.layers[0] as usize].dev, src.st.st_ino);
        let src_ino = self.tree.read().unwrap().key_ino(src_key);
        if let Some(d) = &dst {
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::EXIST);
            }
            let dkey = (self.layers[d.layers[0] as usize].dev, d.st.st_ino);
            let dino = self.tree.read().unwrap().key_ino(dkey);
            if dkey == src_key || (dino.is_some() && dino == src_ino) {
                return Ok(());
            }
            if src.is_dir() && !d.is_dir() {
                return Err(Errno::NOTDIR);
            }
            if !src.is_dir() && d.is_dir() {
                return Err(Errno::ISDIR);
            }
            if d.is_dir() && !self.list_dir(&d.layers, &dst_path, false)?.is_empty() {
                return Err(Errno::NOTEMPTY);
            }
        }
        if src.is_dir() {
            let t = self.tree.read().unwrap();
            if let Some(si) = src_ino {
                if t.is_under(newparent, si) {
                    return Err(Errno::INVAL);
                }
            }
        }
        // 1. The source, complete, in the upper layer.
        let (materialized, src_upper) = self.upper_complete(parent, &src, &src_path)?;
        // 2. The destination.
        self.ensure_upper(newparent, false)?;
        let dst_lower = self.lower_has(&npl, &npp, newname.as_bytes())?;
        if let Some(d) = &dst {
            if d.layers[0] == UPPER && d.is_dir() {
                self.drop_whiteouts(&dst_path, false)?;
            }
            // The replaced object may still be open.
            let dino = self
                .tree
                .read()
                .unwrap()
                .key_ino((self.layers[d.layers[0] as usize].dev, d.st.st_ino));
            self.keep_orphan(dino, newparent, newname, d.layers[0], &dst_path);
        }
        self.clear_whiteout(&npp, newname.as_bytes())?;
        // 3. The old name's whiteout, made ahead so that a full disk fails
        // the rename before anything moved.
        let wh = if self.lower_has(&pl, &pp, name.as_bytes())? {
            Some(self.prepare_whiteout()?)
        } else {
            None
        };
        let moved = rustix::fs::renameat(
            &self.layers[0].fd,
            os(&src_path),
            &self.layers[0].fd,
            os(&dst_path),
        );
        if let Err(e) = moved {
            if let Some(w) = wh {
                self.discard_whiteout(w);
            }
            return Err(e);
        }
        if let Some(w) = wh {
            self.place_whiteout(w, &pp, name.as_bytes())?;
        }
        if src.is_dir() && dst_lower && !materialized {
            self.set_opaque(&dst_path)?;
        }
        // 4. The tree.
        let mut t = self.tree.write().unwrap();
        if let Some(d) = &dst {
            let dkey = (self.layers[d.layers[0] as usize].dev, d.st.st_ino);
            if let Some(di) = t.key_ino(dkey) {
                t.remove_link(di, newparent, newname);
            }
            if d.layers[0] == UPPER && (d.is_dir() || d.st.st_nlink <= 1) {
                t.drop_key(dkey);
            }
        }
        let ino = src_ino.or_else(|| t.key_ino((self.layers[0].dev, src_upper.st_ino)));
        if let Some(ino) = ino {
            t.alias_key((self.layers[0].dev, src_upper.st_ino), ino);
            t.move_link(ino, (parent, name), (newparent, newname));
            if let Some(n) = t.get_mut(ino) {
                n.layers = vec![UPPER];
            }
            if materialized {
                t.set_subtree_upper(ino);
            }
        }
        Ok(())
    }

    /// Copies `f` (named `path`, in `parent`) completely into the upper
    /// layer, a directory with every lower part. Returns whether a
    /// directory was materialized, and the upper object's stat.
    fn upper_complete(&self, parent: u64, f: &Found, path: &[u8]) -> R<(bool, Stat)> {
        self.ensure_upper(parent, false)?;
        let mut layers = f.layers.clone();
        if layers[0] != UPPER {
            self.copy_object(layers[0], path, false)?;
            if !f.is_dir() {
                let key = (self.layers[layers[0] as usize].dev, f.st.st_ino);
                let known = self.tree.read().unwrap().key_ino(key);
                self.file_copied_up(known, layers[0], path, &f.st, true);
            }
            layers.insert(0, UPPER);
        }
        let materialized = f.is_dir() && layers.len() > 1;
        if materialized {
            let mut links = HardLinks::default();
            self.materialize(&layers, path, &mut links)?;
            self.link_unseen(links);
        }
        Ok((materialized, self.statat(UPPER, path)?))
    }

    /// `renameat2(RENAME_EXCHANGE)`: both names must exist; they swap.
    fn do_exchange(&self, parent: u64, name: &OsStr, newparent: u64, newname: &OsStr) -> R<()> {
        check_name(newname)?;
        let _ns = self.ns.write().unwrap();
        let (pl, pp) = self.locate(parent)?;
        let (npl, npp) = self.locate(newparent)?;
        let a = self
            .resolve(&pl, &pp, name.as_bytes())?
            .ok_or(Errno::NOENT)?;
        let b = self
            .resolve(&npl, &npp, newname.as_bytes())?
            .ok_or(Errno::NOENT)?;
        let a_path = join(&pp, name.as_bytes());
        let b_path = join(&npp, newname.as_bytes());
        let a_key = (self.layers[a.layers[0] as usize].dev, a.st.st_ino);
        let b_key = (self.layers[b.layers[0] as usize].dev, b.st.st_ino);
        let (a_ino, b_ino) = {
            let t = self.tree.read().unwrap();
            let (ai, bi) = (t.key_ino(a_key), t.key_ino(b_key));
            if a_key == b_key || (ai.is_some() && ai == bi) {
                return Ok(());
            }
            // Neither directory may end up inside itself.
            if a.is_dir() && ai.is_some_and(|i| t.is_under(newparent, i)) {
                return Err(Errno::INVAL);
            }
            if b.is_dir() && bi.is_some_and(|i| t.is_under(parent, i)) {
                return Err(Errno::INVAL);
            }
            (ai, bi)
        };
        // Record each copy-up as soon as it is made, so that a failure of
        // the second leaves the first object's node pointing at its copy.
        let upper = self.layers[0].dev;
        let record = |ino: Option<u64>, up: &Stat, mat: bool| {
            let mut t = self.tree.write().unwrap();
            let Some(ino) = ino.or_else(|| t.key_ino((upper, up.st_ino))) else {
                return;
            };
            t.alias_key((upper, up.st_ino), ino);
            if let Some(n) = t.get_mut(ino) {
                n.layers = vec![UPPER];
            }
            if mat {
                t.set_subtree_upper(ino);
            }
        };
        let (a_mat, a_up) = self.upper_complete(parent, &a, &a_path)?;
        record(a_ino, &a_up, a_mat);
        let (b_mat, b_up) = self.upper_complete(newparent, &b, &b_path)?;
        record(b_ino, &b_up, b_mat);
        rustix::fs::renameat_with(
            &self.layers[0].fd,
            os(&a_path),
            &self.layers[0].fd,
            os(&b_path),
            rustix::fs::RenameFlags::EXCHANGE,
        )?;
        // A directory that was upper-only where it was must hide the lower
        // directory of its new name.
        if a.is_dir() && !a_mat && self.lower_has(&npl, &npp, newname.as_bytes())? {
            self.set_opaque(&b_path)?;
        }
        if b.is_dir() && !b_mat && self.lower_has(&pl, &pp, name.as_bytes())? {
            self.set_opaque(&a_path)?;
        }
        let mut t = self.tree.write().unwrap();
        let moves = [
            (a_ino, a_up, (parent, name), (newparent, newname)),
            (b_ino, b_up, (newparent, newname), (parent, name)),
        ];
        for (ino, up, from, to) in moves {
            if let Some(ino) = ino.or_else(|| t.key_ino((upper, up.st_ino))) {
                t.move_link(ino, from, to);
            }
        }
        Ok(())
    }
}
