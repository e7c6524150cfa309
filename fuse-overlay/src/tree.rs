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
//! Nodes are never freed (`forget` is ignored): memory grows with the number
//! of distinct objects looked up during the mount.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

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
        match self.nodes.entry(ino) {
            Entry::Occupied(mut e) => {
                let n = e.get_mut();
                if !is_dir && n.in_upper() && layers[0] != UPPER {
                    // A lower hard link of a file already copied up through
                    // another name: the node keeps pointing at the copy.
                    return ino;
                }
                n.layers = layers;
                if is_dir {
                    n.links = vec![(parent, name.to_owned())];
                } else if !n.links.iter().any(|(p, nm)| *p == parent && nm == name) {
                    n.links.push((parent, name.to_owned()));
                }
            }
            Entry::Vacant(e) => {
                e.insert(Node {
                    links: vec![(parent, name.to_owned())],
                    layers,
                    is_dir,
                });
            }
        }
        ino
    }

    /// Removes the name `(parent, name)` from node `ino`.
    pub fn remove_link(&mut self, ino: u64, parent: u64, name: &OsStr) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.links.retain(|(p, nm)| !(*p == parent && nm == name));
        }
    }

    /// Renames one name of `ino`.
    pub fn move_link(&mut self, ino: u64, from: (u64, &OsStr), to: (u64, &OsStr)) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.links.retain(|(p, nm)| !(*p == from.0 && nm == from.1));
            n.links.retain(|(p, nm)| !(*p == to.0 && nm == to.1));
            n.links.insert(0, (to.0, to.1.to_owned()));
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
