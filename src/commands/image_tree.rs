//! `rless image tree [--whatrequires] IMAGE` (podman's): an image's layers
//! as a tree, bottom first, each with its size and, where it is the top
//! layer of named images, their names.
//!
//! # Theory of operation
//!
//! rless keeps no parent links between images: a layer is known by its
//! diff id, and an image is its list of layers. Two images share a
//! layer *in the tree's sense* when their lists agree up to and with it
//! (the same diff id further up another stack is another node, as in
//! podman, whose layer ids chain their parents). So the tree is the trie
//! of the images' layer lists:
//! - plain: IMAGE's list, one node per layer, in a line;
//! - `--whatrequires`: from IMAGE's top layer, every image whose list
//!   starts with IMAGE's, branching where their lists part.
//!
//! Sizes are the extracted sizes the store recorded (`layer.json`), as
//! podman shows its layers' uncompressed sizes.

use super::Ctx;
use anyhow::Result;
use rless::image::digest::Digest;
use rless::image::store::{ImageRecord, Index, LockMode, Store};
use rless::image::time::human_size;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Show the images built on IMAGE, from its top layer up.
    #[arg(long)]
    whatrequires: bool,
    image: String,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let index = store.index()?;
    // A manifest list's name: its image for this host (podman's lookup).
    let img = super::inspect::find_image_or_list(&store, &index, &a.image)?;
    let mut out = format!(
        "Image ID: {}\nTags:    [{}]\nSize:    {}\nImage Layers\n",
        img.id.short(),
        img.names.join(" "),
        human_size(img.size)
    );
    let layers: Vec<&Digest> = img.layers.iter().map(|l| &l.diff_id).collect();
    if a.whatrequires {
        if let Some((top, below)) = layers.split_last() {
            let node = Node::new(&store, &index, below, top);
            render(&store, &index, &node, "", true, &mut out);
        }
    } else {
        for (k, d) in layers.iter().enumerate() {
            let node = Node::new(&store, &index, &layers[..k], d);
            let last = k + 1 == layers.len();
            out.push_str(if last { "└── " } else { "├── " });
            out.push_str(&node.line);
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// One layer of the trie: its place (the layers below it, and it).
struct Node<'a> {
    path: Vec<&'a Digest>,
    line: String,
}

impl<'a> Node<'a> {
    fn new(store: &Store, index: &Index, below: &[&'a Digest], layer: &'a Digest) -> Node<'a> {
        let mut path = below.to_vec();
        path.push(layer);
        let size = store.layer_meta(layer).map_or(0, |m| m.size);
        let mut line = format!(" ID: {} Size: {:>7}", layer.short(), human_size(size));
        let tops: Vec<&str> = index
            .images
            .iter()
            .filter(|i| same_layers(i, &path))
            .flat_map(|i| i.names.iter().map(String::as_str))
            .collect();
        if !tops.is_empty() {
            line.push_str(&format!(" Top Layer of: [{}]", tops.join(" ")));
        }
        Node { path, line }
    }
}

/// Whether `img`'s layers are exactly `path`.
fn same_layers(img: &ImageRecord, path: &[&Digest]) -> bool {
    img.layers.len() == path.len() && img.layers.iter().zip(path).all(|(l, d)| &l.diff_id == *d)
}

/// Prints `node` and, below it, the layers that images built on it add.
fn render(store: &Store, index: &Index, node: &Node, indent: &str, last: bool, out: &mut String) {
    out.push_str(indent);
    out.push_str(if last { "└── " } else { "├── " });
    out.push_str(&node.line);
    out.push('\n');
    // The next layers of every image whose layers start with this path.
    let n = node.path.len();
    let mut next: Vec<&Digest> = Vec::new();
    for i in &index.images {
        let starts = i.layers.len() > n
            && i.layers
                .iter()
                .zip(&node.path)
                .all(|(l, d)| &l.diff_id == *d);
        if starts && !next.contains(&&i.layers[n].diff_id) {
            next.push(&i.layers[n].diff_id);
        }
    }
    let indent = format!("{indent}{}", if last { "    " } else { "│   " });
    for (k, d) in next.iter().enumerate() {
        let child = Node::new(store, index, &node.path, d);
        render(store, index, &child, &indent, k + 1 == next.len(), out);
    }
}
