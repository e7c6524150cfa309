//! `.containerignore` / `.dockerignore`: which context paths a COPY or ADD
//! leaves out.
//!
//! Theory of operation: each non-comment line is a pattern, cleaned as a
//! path relative to the context (a leading `/` or `./` dropped); a `!`
//! before it makes it an exception. A path is excluded when the last
//! pattern that matches it, or one of its parent directories, is not an
//! exception (so `dir` excludes everything under it, and a later
//! `!dir/keep` brings that file back). Matching is per path component:
//! `*` is any run of characters but `/`, `?` one character, `[…]` a class,
//! and a component `**` any number of directories.

/// The ignore file exists but cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct IgnoreError {
    path: String,
    source: std::io::Error,
}

pub struct Ignore {
    patterns: Vec<(bool, Vec<String>)>,
}

impl Ignore {
    /// Reads the ignore file of `context`, `.containerignore` first as
    /// podman does; none means nothing is ignored.
    pub fn load(context: &std::path::Path) -> Result<Ignore, IgnoreError> {
        for name in [".containerignore", ".dockerignore"] {
            let path = context.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => return Ok(Ignore::parse(&text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(IgnoreError {
                        path: path.display().to_string(),
                        source,
                    })
                }
            }
        }
        Ok(Ignore::parse(""))
    }

    /// Reads the ignore file `path` (`build --ignorefile`), which must exist.
    pub fn load_file(path: &std::path::Path) -> Result<Ignore, IgnoreError> {
        std::fs::read_to_string(path)
            .map(|text| Ignore::parse(&text))
            .map_err(|source| IgnoreError {
                path: path.display().to_string(),
                source,
            })
    }

    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keep, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            if let Some(parts) = pattern_parts(pat) {
                patterns.push((keep, parts));
            }
        }
        Ignore { patterns }
    }

    /// This file's patterns and then `extra` (`COPY --exclude`'s, each
    /// already put below the source it applies to), which exclude even
    /// what an exception of the file keeps.
    pub fn with_excludes(&self, extra: &[String]) -> Ignore {
        let mut patterns = self.patterns.clone();
        for pat in extra {
            if let Some(parts) = pattern_parts(pat) {
                patterns.push((false, parts));
            }
        }
        Ignore { patterns }
    }

    /// Whether `rel` (a clean path relative to the context, `/`-separated)
    /// is left out.
    pub fn excluded(&self, rel: &str) -> bool {
        let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        let mut out = false;
        for (keep, pat) in &self.patterns {
            let hit = (1..=comps.len()).any(|n| match_parts(pat, &comps[..n]));
            if hit {
                out = !keep;
            }
        }
        out
    }

    /// Whether an exception could bring back something under the excluded
    /// directory `rel` (it must then be walked, not skipped whole).
    pub fn may_keep_below(&self, rel: &str) -> bool {
        let first = rel.split('/').next().unwrap_or("");
        self.patterns
            .iter()
            .any(|(keep, pat)| *keep && (pat[0] == first || pat[0].contains(['*', '?', '['])))
    }
}

/// A pattern's path components (no empty ones, no `.`); `None` for a
/// pattern that has none, which matches nothing.
fn pattern_parts(pat: &str) -> Option<Vec<String>> {
    let parts: Vec<String> = pat
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect();
    (!parts.is_empty()).then_some(parts)
}

fn match_parts(pat: &[String], comps: &[&str]) -> bool {
    match pat.split_first() {
        None => comps.is_empty(),
        Some((p, rest)) if p == "**" => (0..=comps.len()).any(|k| match_parts(rest, &comps[k..])),
        Some((p, rest)) => match comps.split_first() {
            Some((c, more)) => glob(p.as_bytes(), c.as_bytes()) && match_parts(rest, more),
            None => false,
        },
    }
}

/// One component against one pattern component.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|k| glob(rest, &s[k..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((b'[', rest)) => {
            let Some(end) = rest.iter().position(|&b| b == b']') else {
                return s.first() == Some(&b'[') && glob(rest, &s[1..]);
            };
            let (class, after) = (&rest[..end], &rest[end + 1..]);
            let Some((&c, s_rest)) = s.split_first() else {
                return false;
            };
            let (neg, class) = match class.split_first() {
                Some((b'^' | b'!', cl)) => (true, cl),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != neg && glob(after, s_rest)
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            s.first() == Some(&rest[0]) && glob(&rest[1..], &s[1..])
        }
        Some((&b, rest)) => s.first() == Some(&b) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_exceptions() {
        let ig = Ignore::parse(
            "# comment\n*.log\n/secret\nbuild/\n!build/keep.txt\n**/tmp\nsub/*.o\nd?t[0-9]\n",
        );
        assert!(ig.excluded("a.log"));
        assert!(!ig.excluded("dir/a.log"), "* does not cross /");
        assert!(ig.excluded("secret"));
        assert!(ig.excluded("secret/inner/file"));
        assert!(ig.excluded("build/x"));
        assert!(!ig.excluded("build/keep.txt"));
        assert!(ig.may_keep_below("build"));
        assert!(!ig.may_keep_below("secret"));
        assert!(ig.excluded("tmp") && ig.excluded("a/b/tmp/c"));
        assert!(ig.excluded("sub/x.o") && !ig.excluded("sub/x.c"));
        assert!(ig.excluded("dot1") && !ig.excluded("dotx"));
        assert!(!ig.excluded("Containerfile"));
        assert!(!Ignore::parse("").excluded("x"));
        // `--exclude` patterns come last: they win over an exception.
        let ex = ig.with_excludes(&["build/*.txt".into(), "src/**/*.md".into()]);
        assert!(ex.excluded("build/keep.txt") && ex.excluded("src/a/b.md"));
        assert!(ex.excluded("a.log") && !ex.excluded("src/a/b.rs"));
        // An ignore file that cannot be read is named.
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(".dockerignore")).unwrap();
        let e = Ignore::load(t.path())
            .err()
            .expect("a directory cannot be read");
        assert!(
            e.to_string().starts_with(&format!(
                "cannot read {}/.dockerignore: ",
                t.path().display()
            )),
            "{e}"
        );
    }
}
