//! The inode table.
//!
//! # Theory of operation
//!
//! Every object the kernel has looked up is a [`Node`], keyed by the FUSE
//! inode number we gave it. A node knows its names (`links`: parent inode
//! and name; a directory has one, a hard-linked file may have several) and
//! the layers that hold it, topmost first (`layers`; [`UPPER`] is 0, lower
//! layer `i` is `i + 1`). For a non-directory only `layers[0]` matters; a
//! directory lists every layer whose directory of that path is merged into
//! it, cut at the first opaque one. The path of a node inside any of its
//! layers is the path of its first link, joined up to the root: objects
//! moved by a rename are always copied to the upper layer first, so the
//! union path and the path in each layer never differ.
//!
//! Inode numbers: an object on disk is identified by `(st_dev, st_ino)` of
//! the layer file holding it (a "key"). The first time a key is seen it gets
//! the next free number; `keys` remembers it for the life of the mount, so
//! the number is stable across forget and lookup, hard links share one, and
//! copy-up adds the upper copy's key with the same number. Keys of upper
//! objects whose last link is removed are dropped, since the upper
//! filesystem may reuse the inode number.
//!
//! Lifetime: a node counts the kernel's references (`lookups`: one per
//! entry reply, given back by `forget`) and the links of other nodes that
//! name it as their parent (`children`). It is freed when both are zero, so
//! memory follows what the kernel caches, not everything ever looked up.
//! Its key keeps its number, so a later lookup gets the same `st_ino`.
//! Nodes whose upper copy took over a lower object (copy-up, rename) are
//! `pinned` and never freed: a fresh lookup through another lower hard link
//! of the object would no longer find the copy.
//!
//! Orphans: an object whose last name is removed while the kernel still
//! knows it may still be open (the usual open, unlink, use pattern of
//! temporary files). Its node then keeps an `O_PATH` descriptor of the file
//! ([`Orphan`]), through which fstat, fchmod, ftruncate and the like still
//! reach it, as they do on any local filesystem; the descriptor goes when
//! the kernel forgets the node.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

/// FUSE inode number of the root.
pub(crate) const ROOT: u64 = 1;
/// Layer index of the upper layer.
pub(crate) const UPPER: u16 = 0;

/// `(st_dev, st_ino)` of a layer file.
pub(crate) type Key = (u64, u64);

/// One object of the union.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Names of the object: (parent inode, name). Empty for the root and for
    /// objects whose every name was removed.
    pub links: Vec<(u64, OsString)>,
    /// Layers holding the object, topmost first; never empty.
    pub layers: Vec<u16>,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Entry replies the kernel has not yet given back with `forget`.
    lookups: u64,
    /// Links of other nodes whose parent is this one.
    children: u32,
    /// Never freed (see the module notes).
    pinned: bool,
    /// The object, once every name is gone (see the module notes).
    pub orphan: Option<Orphan>,
}

/// A descriptor (`O_PATH`, not following symlinks) of an object with no
/// name left, opened in `layer` before its last name went.
#[derive(Debug, Clone)]
pub(crate) struct Orphan {
    pub layer: u16,
    pub fd: Arc<OwnedFd>,
}

impl Node {
    /// Whether the object (its topmost part) is in the upper layer.
    pub fn in_upper(&self) -> bool {
        self.layers[0] == UPPER
    }
}

/// The table of nodes and keys.
#[derive(Debug)]
pub(crate) struct Tree {
    nodes: HashMap<u64, Node>,
    keys: HashMap<Key, u64>,
    next: u64,
}

/// `parent/name` as a path relative to a layer root (`.` is the root).
pub(crate) fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent == b"." {
        return name.to_vec();
    }
    let mut p = Vec::with_capacity(parent.len() + 1 + name.len());
    p.extend_from_slice(parent);
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

impl Tree {
    /// A table holding only the root, merged from `root_layers`.
    pub fn new(root_layers: Vec<u16>, root_key: Key) -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node {
                links: Vec::new(),
                layers: root_layers,
                is_dir: true,
                lookups: 0,
                children: 0,
                pinned: true,
                orphan: None,
            },
        );
        let mut keys = HashMap::new();
        keys.insert(root_key, ROOT);
        Tree {
            nodes,
            keys,
            next: ROOT + 1,
        }
    }

    pub fn get(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    pub fn get_mut(&mut self, ino: u64) -> Option<&mut Node> {
        self.nodes.get_mut(&ino)
    }

    /// Path of `ino` relative to a layer root; `None` if it has no name left.
    pub fn path(&self, ino: u64) -> Option<Vec<u8>> {
        if ino == ROOT {
            return Some(b".".to_vec());
        }
        let mut parts: Vec<&OsStr> = Vec::new();
        let mut cur = ino;
        while cur != ROOT {
            let n = self.nodes.get(&cur)?;
            let (parent, name) = n.links.first()?;
            parts.push(name);
            cur = *parent;
            if parts.len() > 4096 {
                return None;
            }
        }
        let len = parts.iter().map(|p| p.len() + 1).sum();
        let mut out = Vec::with_capacity(len);
        for (i, p) in parts.iter().rev().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            out.extend_from_slice(p.as_bytes());
        }
        Some(out)
    }

    /// The inode number of `key`, allocating one if it is new.
    pub fn ino_for(&mut self, key: Key) -> u64 {
        let next = &mut self.next;
        *self.keys.entry(key).or_insert_with(|| {
            let n = *next;
            *next += 1;
            n
        })
    }

    /// Makes `key` (an upper copy) answer to `ino` too.
    pub fn alias_key(&mut self, key: Key, ino: u64) {
        self.keys.insert(key, ino);
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.pinned = true;
        }
    }

    /// Number of live nodes (for tests and debugging).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The kernel gave back `n` references to `ino` (`forget`); frees it
    /// and, in turn, parents left unused. Returns the node's orphan, which
    /// nothing can reach now: the caller closes it after letting go of the
    /// tree, since closing the last descriptor of an unlinked file frees it
    /// on disk, which may take a while.
    #[must_use]
    pub fn forget(&mut self, ino: u64, n: u64) -> Option<Orphan> {
        let mut orphan = None;
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.lookups = node.lookups.saturating_sub(n);
            if node.lookups == 0 {
                orphan = node.orphan.take();
            }
        }
        self.free_if_unused(ino);
        orphan
    }

    /// Takes back one reference counted by `record` for an entry that was
    /// not sent to the kernel after all.
    pub fn unref(&mut self, ino: u64) {
        // A node an entry reply was about to name has a name: no orphan.
        let _ = self.forget(ino, 1);
    }

    fn free_if_unused(&mut self, mut ino: u64) {
        while let Some(n) = self.nodes.get(&ino) {
            if n.pinned || n.lookups > 0 || n.children > 0 {
                return;
            }
            let Some(n) = self.nodes.remove(&ino) else {
                return;
            };
            // A directory names one parent; a file's links may name several.
            let mut parents: Vec<u64> = n.links.iter().map(|l| l.0).collect();
            let Some(last) = parents.pop() else {
                return;
            };
            for p in parents {
                if self.dec_children(p) {
                    self.free_if_unused(p);
                }
            }
            if !self.dec_children(last) {
                return;
            }
            ino = last;
        }
    }

    /// One link naming `parent` is gone; true if `parent` may now be unused.
    fn dec_children(&mut self, parent: u64) -> bool {
        match self.nodes.get_mut(&parent) {
            Some(p) => {
                p.children = p.children.saturating_sub(1);
                p.children == 0
            }
            None => false,
        }
    }

    fn inc_children(&mut self, parent: u64) {
        if let Some(p) = self.nodes.get_mut(&parent) {
            p.children += 1;
        }
    }

    /// Replaces the links of `ino`, keeping the parents' child counts.
    /// Old parents left unused are freed.
    fn set_links(&mut self, ino: u64, links: Vec<(u64, OsString)>) {
        let Some(n) = self.nodes.get_mut(&ino) else {
            return;
        };
        let new_parents: Vec<u64> = links.iter().map(|l| l.0).collect();
        let old = std::mem::replace(&mut n.links, links);
        for p in new_parents {
            self.inc_children(p);
        }
        for (p, _) in old {
            if self.dec_children(p) {
                self.free_if_unused(p);
            }
        }
    }

    /// The inode number of `key`, if it has one.
    pub fn key_ino(&self, key: Key) -> Option<u64> {
        self.keys.get(&key).copied()
    }

    /// Forgets `key` (its upper object is gone).
    pub fn drop_key(&mut self, key: Key) {
        if self.keys.get(&key).is_some_and(|&i| i != ROOT) {
            self.keys.remove(&key);
        }
    }

    /// Records the result of a lookup of `name` in `parent`: the object with
    /// `key`, found in `layers`. Returns its inode number.
    pub fn record(
        &mut self,
        parent: u64,
        name: &OsStr,
        key: Key,
        layers: Vec<u16>,
        is_dir: bool,
    ) -> u64 {
        let mut ino = self.ino_for(key);
        if self.nodes.get(&ino).is_some_and(|n| n.is_dir != is_dir) {
            // The key was reused for an object of another kind: new number.
            self.keys.remove(&key);
            ino = self.ino_for(key);
        }
        let links = match self.nodes.entry(ino) {
            Entry::Occupied(mut e) => {
                let n = e.get_mut();
                n.lookups += 1;
                if !is_dir && n.in_upper() && layers[0] != UPPER {
                    // A lower hard link of a file already copied up through
                    // another name: the node keeps pointing at the copy.
                    return ino;
                }
                n.layers = layers;
                if is_dir {
                    if n.links.len() == 1 && n.links[0].0 == parent && n.links[0].1 == name {
                        return ino;
                    }
                    vec![(parent, name.to_owned())]
                } else if !n.links.iter().any(|(p, nm)| *p == parent && nm == name) {
                    let mut l = n.links.clone();
                    l.push((parent, name.to_owned()));
                    l
                } else {
                    return ino;
                }
            }
            Entry::Vacant(e) => {
                e.insert(Node {
                    links: Vec::new(),
                    layers,
                    is_dir,
                    lookups: 1,
                    children: 0,
                    pinned: false,
                    orphan: None,
                });
                vec![(parent, name.to_owned())]
            }
        };
        self.set_links(ino, links);
        ino
    }

    /// Removes the name `(parent, name)` from node `ino`.
    pub fn remove_link(&mut self, ino: u64, parent: u64, name: &OsStr) {
        if let Some(n) = self.nodes.get(&ino) {
            let mut l = n.links.clone();
            l.retain(|(p, nm)| !(*p == parent && nm == name));
            self.set_links(ino, l);
            self.free_if_unused(ino);
        }
    }

    /// Renames one name of `ino`.
    pub fn move_link(&mut self, ino: u64, from: (u64, &OsStr), to: (u64, &OsStr)) {
        if let Some(n) = self.nodes.get(&ino) {
            let mut l = n.links.clone();
            l.retain(|(p, nm)| !(*p == from.0 && nm == from.1));
            l.retain(|(p, nm)| !(*p == to.0 && nm == to.1));
            l.insert(0, (to.0, to.1.to_owned()));
            self.set_links(ino, l);
        }
    }

    /// Whether `ino` is `ancestor` or below it.
    pub fn is_under(&self, ino: u64, ancestor: u64) -> bool {
        let mut cur = ino;
        for _ in 0..4096 {
            if cur == ancestor {
                return true;
            }
            if cur == ROOT {
                return false;
            }
            match self.nodes.get(&cur).and_then(|n| n.links.first()) {
                Some((p, _)) => cur = *p,
                None => return false,
            }
        }
        false
    }

    /// After the subtree at `top` was copied entirely into the upper layer:
    /// every node in it lives in the upper layer only.
    pub fn set_subtree_upper(&mut self, top: u64) {
        let inside: Vec<u64> = self
            .nodes
            .keys()
            .copied()
            .filter(|&i| self.is_under(i, top))
            .collect();
        for i in inside {
            if let Some(n) = self.nodes.get_mut(&i) {
                n.layers = vec![UPPER];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_links() {
        let mut t = Tree::new(vec![0, 1], (1, 1));
        let a = t.record(ROOT, OsStr::new("a"), (1, 2), vec![1], true);
        let b = t.record(a, OsStr::new("b"), (1, 3), vec![1], false);
        assert_eq!(t.path(b).unwrap(), b"a/b");
        assert_eq!(t.path(ROOT).unwrap(), b".");
        // Hard link: same key, second name, same number.
        let c = t.record(ROOT, OsStr::new("c"), (1, 3), vec![1], false);
        assert_eq!(b, c);
        t.remove_link(b, a, OsStr::new("b"));
        assert_eq!(t.path(b).unwrap(), b"c");
        assert!(t.is_under(b, ROOT));
        t.move_link(a, (ROOT, OsStr::new("a")), (ROOT, OsStr::new("z")));
        assert_eq!(t.path(a).unwrap(), b"z");
        assert_eq!(join(b".", b"x"), b"x");
        assert_eq!(join(b"d", b"x"), b"d/x");
    }
}
