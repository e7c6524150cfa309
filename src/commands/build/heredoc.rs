//! Heredocs of RUN, COPY and ADD (`RUN <<EOF` … `EOF`), as BuildKit's
//! Dockerfile frontend (1.4 and later) reads them.
//!
//! Theory of operation: once an instruction's line is whole (continuations
//! joined), a RUN, COPY or ADD in the shell form is split into words as a
//! shell would, quotes and escapes kept; a word `<<NAME` (or `<<-NAME`,
//! `<<"NAME"`, `<<'NAME'`, with an optional file descriptor number before
//! it) opens a heredoc. The lines after the instruction are then its
//! bodies, one heredoc after the other, each up to a line that is exactly
//! its NAME (after leading tabs for `<<-`); each line keeps its newline.
//! A quoted NAME means the body is not expanded. How the body is used is
//! the instruction's: [`RunCommand::of`] for RUN (the body run by the
//! shell, a `#!` body run as a file by its interpreter, anything else the
//! whole text handed to the shell, which reads the heredocs itself), and
//! COPY and ADD make a file of each body named NAME ([`expand`] for its
//! variables).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One heredoc of an instruction.
#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    /// The delimiter, quotes removed: the file's name for COPY and ADD.
    pub name: String,
    /// `<<-`: leading tabs go from every line of the body.
    pub chomp: bool,
    /// The delimiter was not quoted: COPY and ADD expand variables.
    pub expand: bool,
    /// The lines before the delimiter, each with its newline, as written.
    pub body: String,
}

impl Heredoc {
    /// The body as it is used: for `<<-`, without leading tabs.
    pub fn content(&self) -> String {
        if !self.chomp {
            return self.body.clone();
        }
        self.body
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// The heredoc `word` (a raw word: quotes and escapes kept) opens, without
/// its body: `[N]<<[-]NAME`, NAME one word after its quotes are removed.
pub fn opened(word: &str, escape: char) -> Option<Heredoc> {
    let w = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let w = w.strip_prefix("<<")?;
    let (chomp, rest) = match w.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, w),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let name = unquote(rest, escape)?;
    if name.is_empty() {
        return None;
    }
    Some(Heredoc {
        expand: name == rest,
        name,
        chomp,
        body: String::new(),
    })
}

/// The heredocs `rest` (a shell-form argument) opens, in order.
pub fn opened_in(rest: &str, escape: char) -> Vec<Heredoc> {
    raw_words(rest, escape)
        .iter()
        .filter_map(|w| opened(w, escape))
        .collect()
}

/// Splits at whitespace outside quotes and not escaped; the quotes and
/// escapes stay in the words. An unterminated quote runs to the end.
pub fn raw_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                continue;
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            Some(q) if c == q => quote = None,
            None | Some('"') if c == escape => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// `word` with its quotes and escapes removed (no variables: a heredoc's
/// delimiter is taken as written); `None` for an unterminated quote or
/// a word that is several words.
fn unquote(word: &str, escape: char) -> Option<String> {
    let mut out = String::new();
    let mut quote = None;
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => return None,
            None if c == '"' || c == '\'' => quote = Some(c),
            Some(q) if c == q => quote = None,
            Some('\'') => out.push(c),
            None if c == escape => out.extend(chars.next()),
            Some(_) if c == escape => match chars.peek() {
                Some(&n) if n == '"' || n == '$' || n == escape => {
                    out.push(n);
                    chars.next();
                }
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    quote.is_none().then_some(out)
}

/// What a RUN with heredocs runs.
#[derive(Debug, PartialEq)]
pub enum RunCommand {
    /// This text, given to the shell as its command (`-c TEXT`).
    Shell(String),
    /// A body that starts with `#!`: written to a file `name` and run
    /// (the shell is given the file's path), as BuildKit runs it.
    Script { name: String, content: String },
}

impl RunCommand {
    /// The command of `RUN rest` with its heredocs `docs`: a lone heredoc
    /// (`RUN <<EOF`) is its body run by the shell (or a script, if it
    /// starts with `#!`); anything else (`RUN <<EOF bash`, `RUN python3
    /// <<EOF`, several heredocs) is the whole text, heredocs and their
    /// delimiters included, given to the shell, which reads them. No
    /// variable is expanded here: that is the shell's.
    pub fn of(rest: &str, docs: &[Heredoc], escape: char) -> RunCommand {
        let words = raw_words(rest.trim(), escape);
        if let ([w], [doc]) = (&words[..], docs) {
            if opened(w, escape).is_some() {
                let content = doc.content();
                if content.starts_with("#!") {
                    return RunCommand::Script {
                        name: doc.name.clone(),
                        content,
                    };
                }
                return RunCommand::Shell(content);
            }
        }
        let mut full = rest.trim().to_string();
        for d in docs {
            full.push('\n');
            full.push_str(&d.body);
            full.push_str(&d.name);
        }
        RunCommand::Shell(full)
    }
}

/// A COPY or ADD heredoc's body with the variables of `env` expanded as
/// BuildKit does: `$NAME` and `${NAME…}` are replaced, quotes are text
/// like any other character, and an escape character keeps the next
/// character as it is (and goes).
pub fn expand(content: &str, env: &[(String, String)]) -> Result<String, String> {
    rless::image::change::expand_text(content, env)
}

/// A heredoc that cannot be made a file.
#[derive(Debug, thiserror::Error)]
pub enum HeredocError {
    #[error("heredoc <<{name}: {name:?} cannot name a file ({why})")]
    Name { name: String, why: &'static str },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Files made of heredoc bodies, in a private directory of their own
/// that goes when this is dropped: in the store's build scratch
/// directory (`build-mounts/tmp/PID-heredoc-…`), so that what a killed
/// build left is removed by the next one (see `mounts::sweep_scratch`).
pub struct Files {
    dir: PathBuf,
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Files {
    pub fn new(root: &Path) -> Result<Files, HeredocError> {
        let base = super::mounts::scratch_dir(root);
        std::fs::create_dir_all(&base).map_err(|source| HeredocError::Io {
            op: "create",
            path: base.clone(),
            source,
        })?;
        let dir = base.join(format!(
            "{}-heredoc-{}",
            std::process::id(),
            rless::container::ContainerId::random().short()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|source| HeredocError::Io {
                op: "create",
                path: dir.clone(),
                source,
            })?;
        Ok(Files { dir })
    }

    /// Writes `content` as the file `name`, mode `mode`; its path.
    pub fn write(&self, name: &str, content: &str, mode: u32) -> Result<PathBuf, HeredocError> {
        let why = if name.contains('/') {
            Some("it has a /")
        } else if name == "." || name == ".." {
            Some("it is a directory")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(HeredocError::Name {
                name: name.to_string(),
                why,
            });
        }
        let path = self.dir.join(name);
        let io = |op| {
            let path = path.clone();
            move |source| HeredocError::Io { op, path, source }
        };
        std::fs::write(&path, content).map_err(io("write"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(io("chmod"))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_open_heredocs() {
        let names = |s: &str| -> Vec<(String, bool, bool)> {
            opened_in(s, '\\')
                .into_iter()
                .map(|h| (h.name, h.chomp, h.expand))
                .collect()
        };
        let one = |n: &str, chomp, expand| vec![(n.to_string(), chomp, expand)];
        assert_eq!(names("<<EOF"), one("EOF", false, true));
        assert_eq!(names("cat <<-'X' > f"), one("X", true, false));
        assert_eq!(names("<<\"E\" /x"), one("E", false, false));
        assert_eq!(names("3<<FD"), one("FD", false, true));
        assert_eq!(
            names("<<A <<-B /dir/"),
            vec![("A".into(), false, true), ("B".into(), true, true)]
        );
        for none in [
            "cat <<< word",
            "echo a<<1",
            "echo \"<<EOF\" '<<X' \\<<Y",
            "echo \"\\\"<<EOF\"",
            "<< EOF",
            "<<",
            "<<-",
        ] {
            assert!(names(none).is_empty(), "{none}");
        }
        assert_eq!(names("echo \"a\" <<Z"), one("Z", false, true));
        // With the backtick as the escape character, `\` is text.
        assert_eq!(
            opened_in("<<E`OF \\<<X", '`')
                .into_iter()
                .map(|h| h.name)
                .collect::<Vec<_>>(),
            ["EOF"]
        );
    }

    #[test]
    fn content_and_chomp() {
        let mut h = opened("<<-X", '\\').unwrap();
        h.body = "\tone\n\t\ttwo\n  three\n".into();
        assert_eq!(h.content(), "one\ntwo\n  three\n");
        h.chomp = false;
        assert_eq!(h.content(), h.body);
    }

    #[test]
    fn run_commands() {
        let doc = |name: &str, body: &str| Heredoc {
            name: name.into(),
            chomp: false,
            expand: true,
            body: body.into(),
        };
        assert_eq!(
            RunCommand::of("<<EOF", &[doc("EOF", "echo $A\necho b\n")], '\\'),
            RunCommand::Shell("echo $A\necho b\n".into())
        );
        let mut tabbed = doc("E", "\techo t\n");
        tabbed.chomp = true;
        assert_eq!(
            RunCommand::of("<<-E", &[tabbed], '\\'),
            RunCommand::Shell("echo t\n".into())
        );
        assert_eq!(
            RunCommand::of(
                "<<S",
                &[doc("S", "#!/usr/bin/env python3\nprint(1)\n")],
                '\\'
            ),
            RunCommand::Script {
                name: "S".into(),
                content: "#!/usr/bin/env python3\nprint(1)\n".into()
            }
        );
        assert_eq!(
            RunCommand::of("<<EOF bash", &[doc("EOF", "set -e\n")], '\\'),
            RunCommand::Shell("<<EOF bash\nset -e\nEOF".into())
        );
        assert_eq!(
            RunCommand::of(
                "cat <<A <<-B > f",
                &[doc("A", "a\n"), doc("B", "\tb\n")],
                '\\'
            ),
            RunCommand::Shell("cat <<A <<-B > f\na\nA\n\tb\nB".into())
        );
    }

    #[test]
    fn copy_bodies_expand_as_buildkit() {
        let env = vec![("A".to_string(), "x y".to_string())];
        assert_eq!(
            expand("a=$A '$A' \"${A}\" \\$A ${B:-d}\n", &env).unwrap(),
            "a=x y 'x y' \"x y\" $A d\n"
        );
    }
}
