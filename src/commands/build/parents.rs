//! `COPY --parents`: each source keeps its parent directories under the
//! destination (BuildKit's labs flag, buildah 1.36's).
//!
//! Theory of operation: a source word may hold a pivot, `/./`
//! (`./x/./y/*.txt`), as rsync's `--relative` does: only the directories
//! after it are kept. The word is resolved as written without the pivot
//! ([`resolve_word`]); each file it names is then sent under its path
//! relative to the context with the components before the pivot dropped
//! ([`kept_name`]). Its parent directories are sent first as directory
//! entries with the context directories' modes and times (and the
//! `--chown` owner), once each, then a file as itself or a directory as
//! itself and its contents. The destination is always a directory. With
//! `--from`, each path goes into the directory of its kept parents below
//! the destination, made as the copy helper makes missing directories.

use super::context::{Packer, Source};
use super::ignore::Ignore;
use super::parse::Instruction;
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A source word without its pivot, and how many leading components of
/// the paths it names are dropped (those before the pivot; 0 without).
pub(super) fn resolve_word(word: &str) -> (String, usize) {
    match word.split_once("/./") {
        Some((before, after)) => {
            let dropped = before
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .fold(0usize, |n, c| match c {
                    ".." => n.saturating_sub(1),
                    _ => n + 1,
                });
            (format!("{before}/{after}"), dropped)
        }
        None => (word.to_string(), 0),
    }
}

/// The name a source of path `rel` (clean, relative to the context) is
/// sent under: `rel` without its first `dropped` components.
pub(super) fn kept_name(rel: &str, dropped: usize) -> String {
    rel.split('/')
        .filter(|c| !c.is_empty())
        .skip(dropped)
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `--parents` is on: bare, `=true` or `=false`.
pub(super) fn wanted(ins: &Instruction) -> Result<bool, String> {
    match ins.flag("parents") {
        None => Ok(false),
        Some("" | "true") => Ok(true),
        Some("false") => Ok(false),
        Some(v) => Err(format!(
            "--parents={v}: use --parents, --parents=true or --parents=false"
        )),
    }
}

/// Sends sources with their parents: `named` holds each source and the
/// name it is sent under. Parent directories come from `context`.
pub(super) struct ParentsPacker<'a> {
    pub context: &'a Path,
    /// The directory entries sent so far.
    sent: BTreeSet<String>,
}

impl<'a> ParentsPacker<'a> {
    pub fn new(context: &'a Path) -> ParentsPacker<'a> {
        ParentsPacker {
            context,
            sent: BTreeSet::new(),
        }
    }

    /// `s` under `name`, after the parent directories `name` has (which
    /// are `s.rel`'s last components: the context's directories there).
    pub fn add<W: Write>(
        &mut self,
        p: &mut Packer<W>,
        s: &Source,
        name: &str,
        ignore: &Ignore,
    ) -> Result<(), super::context::ContextError> {
        let comps: Vec<&str> = name.split('/').filter(|c| !c.is_empty()).collect();
        let rel: Vec<&str> = s.rel.split('/').filter(|c| !c.is_empty()).collect();
        // The context path of `name`'s first component.
        let base = rel.len() - comps.len();
        for k in 1..comps.len() {
            let dir = comps[..k].join("/");
            if self.sent.insert(dir.clone()) {
                let at = rel[..base + k].join("/");
                p.add_one(&self.context.join(&at), &at, &dir)?;
            }
        }
        if s.is_dir && !name.is_empty() && self.sent.insert(name.to_string()) {
            p.add_one(&s.path, &s.rel, name)?;
        }
        p.add(s, name, ignore)
    }

    /// The parent directories' names and modes, for the build cache's key
    /// (the files' own are in the sources' digest).
    pub fn parents_text(&self, named: &[(Source, String)]) -> String {
        let mut out = String::new();
        for (s, name) in named {
            let comps: Vec<&str> = name.split('/').filter(|c| !c.is_empty()).collect();
            let rel: Vec<&str> = s.rel.split('/').filter(|c| !c.is_empty()).collect();
            let base = rel.len() - comps.len();
            for k in 1..=comps.len() {
                if k == comps.len() && !s.is_dir {
                    break;
                }
                let at = rel[..base + k].join("/");
                let mode = std::fs::metadata(self.context.join(&at))
                    .map(|m| m.mode())
                    .unwrap_or(0);
                out.push_str(&format!("{}:{mode:o}\n", comps[..k].join("/")));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pivots_and_names() {
        assert_eq!(resolve_word("./x/./y/*.txt"), ("./x/y/*.txt".into(), 1));
        assert_eq!(resolve_word("a/b/./c"), ("a/b/c".into(), 2));
        assert_eq!(resolve_word("/a/b"), ("/a/b".into(), 0));
        assert_eq!(resolve_word("./a"), ("./a".into(), 0));
        assert_eq!(kept_name("x/y/a.txt", 1), "y/a.txt");
        assert_eq!(kept_name("x/y/a.txt", 0), "x/y/a.txt");
        assert_eq!(kept_name("x", 1), "");
    }

    #[test]
    fn parents_sent_once_with_their_modes() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let ctx = t.path().canonicalize().unwrap();
        std::fs::create_dir_all(ctx.join("x/y")).unwrap();
        std::fs::set_permissions(ctx.join("x"), std::fs::Permissions::from_mode(0o750)).unwrap();
        std::fs::write(ctx.join("x/y/a"), "a").unwrap();
        std::fs::write(ctx.join("x/y/b"), "b").unwrap();
        let none = Ignore::parse("");
        let mut srcs = super::super::context::sources(&ctx, "x/y/*", &none).unwrap();
        srcs.extend(super::super::context::sources(&ctx, "x/y", &none).unwrap());
        let mut pp = ParentsPacker::new(&ctx);
        let mut p = Packer::new(Vec::new(), None);
        for s in &srcs {
            let name = kept_name(&s.rel, 0);
            pp.add(&mut p, s, &name, &none).unwrap();
        }
        let bytes = p.finish().unwrap();
        let got: Vec<(String, u32)> = tar::Archive::new(&bytes[..])
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x/", "x/y/", "x/y/a", "x/y/b", "x/y/a", "x/y/b"]);
        assert_eq!(got[0].1, 0o750);
    }
}
