//! Reading a Containerfile into instructions.
//!
//! Theory of operation: the text is read line by line. A line whose first
//! non-blank character is `#` is a comment (parser directives such as
//! `# syntax=` are comments too); a line ending in `\` goes on with the
//! next line (comment and empty lines inside such a run are skipped, as
//! docker does). Each joined line is one [`Instruction`]: its keyword
//! (upper-cased), the number of the line it starts on, its leading
//! `--name=value` flags, and the rest of the text as written. What the
//! rest means (exec or shell form, words, variables) is read per keyword
//! by the build, which knows the variables in scope; [`Form`] is the
//! shared piece. Heredocs (`RUN <<EOF`) are not read.

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("{file}: line {line}: {why}")]
    Bad {
        file: String,
        line: usize,
        why: String,
    },
    #[error("{file}: no FROM instruction")]
    NoFrom { file: String },
}

/// One instruction of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// The line it starts on (1-based).
    pub line: usize,
    /// Upper-cased.
    pub keyword: String,
    /// Leading `--name=value` (or bare `--name`) flags, in order.
    pub flags: Vec<(String, String)>,
    /// The text after the keyword and flags, continuations joined.
    pub rest: String,
}

impl Instruction {
    /// The instruction as `history` shows it: keyword, flags, text.
    pub fn text(&self) -> String {
        let mut s = self.keyword.clone();
        for (k, v) in &self.flags {
            s.push_str(&format!(" --{k}={v}"));
        }
        if !self.rest.is_empty() {
            s.push(' ');
            s.push_str(&self.rest);
        }
        s
    }

    /// [`Instruction::text`] for an error line: at most 200 characters
    /// (a 3 MB RUN is not repeated whole in its error).
    pub fn short_text(&self) -> String {
        let t = self.text();
        match t.char_indices().nth(200) {
            Some((i, _)) => format!("{}…", &t[..i]),
            None => t,
        }
    }

    /// Whether a RUN, COPY or ADD uses a heredoc (`<<EOF`, `<<-"EOF"`),
    /// which rless does not read: the lines after it would be taken for
    /// instructions.
    pub fn heredoc(&self) -> bool {
        if !matches!(self.keyword.as_str(), "RUN" | "COPY" | "ADD") {
            return false;
        }
        let b = self.rest.as_bytes();
        // Where a quote is open (`echo "<<EOF"` is text, not a heredoc).
        let mut quoted = vec![false; b.len()];
        let mut q = None;
        let mut i = 0;
        while i < b.len() {
            quoted[i] = q.is_some();
            match (q, b[i]) {
                (None, b'\\') => {
                    // The escaped character is text too.
                    i += 1;
                    if let Some(e) = quoted.get_mut(i) {
                        *e = true;
                    }
                }
                (Some(b'"'), b'\\') => {
                    i += 1;
                    if let Some(e) = quoted.get_mut(i) {
                        *e = true;
                    }
                }
                (None, c @ (b'"' | b'\'')) => q = Some(c),
                (Some(c), d) if c == d => q = None,
                _ => {}
            }
            i += 1;
        }
        (0..b.len().saturating_sub(2)).any(|i| {
            if &b[i..i + 2] != b"<<" || quoted[i] || (i > 0 && b[i - 1] == b'<') || b[i + 2] == b'<'
            {
                return false;
            }
            let mut j = i + 2;
            if b.get(j) == Some(&b'-') {
                j += 1;
            }
            if matches!(b.get(j), Some(b'"' | b'\'')) {
                j += 1;
            }
            b.get(j)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        })
    }

    /// The value of flag `name` (the last one given).
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An instruction's argument: `["a", "b"]` (exec form) or text for the
/// shell (shell form).
#[derive(Debug, Clone, PartialEq)]
pub enum Form {
    Exec(Vec<String>),
    Shell(String),
}

impl Form {
    /// Text that starts with `[` and parses as a JSON list of strings is
    /// the exec form; anything else is the shell form.
    pub fn of(rest: &str) -> Form {
        let t = rest.trim();
        if t.starts_with('[') {
            if let Ok(v) = serde_json::from_str::<Vec<String>>(t) {
                return Form::Exec(v);
            }
        }
        Form::Shell(t.to_string())
    }

    /// The argument vector, the shell form run by `shell`.
    pub fn argv(&self, shell: &[String]) -> Vec<String> {
        match self {
            Form::Exec(v) => v.clone(),
            Form::Shell(s) => shell.iter().cloned().chain([s.clone()]).collect(),
        }
    }
}

/// Splits `text` (a Containerfile named `file` in errors) into
/// instructions. Refuses a file without FROM, or with an instruction
/// other than ARG before the first FROM.
pub fn parse(file: &str, text: &str) -> Result<Vec<Instruction>, ParseError> {
    let bad = |line: usize, why: String| ParseError::Bad {
        file: file.to_string(),
        line,
        why,
    };
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    // An editor's byte-order mark is not part of the first instruction.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    for (i, raw) in lines.iter().enumerate() {
        let n = i + 1;
        let trimmed = raw.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        // As docker: the `\` (and blanks after it) goes, and the next line
        // follows with nothing put between, its own leading blanks kept
        // (`hel\` + `lo` is `hello`).
        let line = if pending.is_some() {
            raw.trim_end()
        } else {
            trimmed
        };
        let (body, more) = match line.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line, false),
        };
        let (start, mut joined) = pending.take().unwrap_or((n, String::new()));
        joined.push_str(body);
        if more && i + 1 < lines.len() {
            pending = Some((start, joined));
            continue;
        }
        let ins = instruction(start, &joined).map_err(|w| bad(start, w))?;
        // Before its body's lines are taken for instructions.
        if ins.heredoc() {
            return Err(bad(start, "heredocs (<<WORD) are not supported".into()));
        }
        out.push(ins);
    }
    if let Some((start, joined)) = pending {
        out.push(instruction(start, &joined).map_err(|w| bad(start, w))?);
    }
    match out.iter().find(|i| i.keyword != "ARG") {
        None => Err(ParseError::NoFrom { file: file.into() }),
        Some(i) if i.keyword != "FROM" => Err(bad(
            i.line,
            format!(
                "{} before the first FROM (only ARG may come before it)",
                i.keyword
            ),
        )),
        Some(_) => Ok(out),
    }
}

fn instruction(line: usize, text: &str) -> Result<Instruction, String> {
    let text = text.trim();
    let (word, mut rest) = match text.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim_start()),
        None => (text, ""),
    };
    if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!("{word:?} is not an instruction"));
    }
    let mut flags = Vec::new();
    while let Some(f) = rest.strip_prefix("--") {
        let (flag, after) = match f.split_once(char::is_whitespace) {
            Some((fl, a)) => (fl, a.trim_start()),
            None => (f, ""),
        };
        if flag.is_empty() {
            break;
        }
        let (k, v) = flag.split_once('=').unwrap_or((flag, ""));
        flags.push((k.to_string(), v.to_string()));
        rest = after;
    }
    Ok(Instruction {
        line,
        keyword: word.to_ascii_uppercase(),
        flags,
        rest: rest.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(i: &[Instruction]) -> Vec<(usize, &str, &str)> {
        i.iter()
            .map(|i| (i.line, i.keyword.as_str(), i.rest.as_str()))
            .collect()
    }

    #[test]
    fn comments_continuations_and_lines() {
        let text = "# syntax=x\nARG V=1\n\nfrom base:$V\n  # note\nRUN echo a \\\n  # inside\n\n  && echo b\nCOPY --chown=1:2 --from=s a b\nCMD [\"x\", \"y\"]\nRUN last \\\n";
        let got = parse("Containerfile", text).unwrap();
        assert_eq!(
            kw(&got),
            [
                (2, "ARG", "V=1"),
                (4, "FROM", "base:$V"),
                (6, "RUN", "echo a   && echo b"),
                (10, "COPY", "a b"),
                (11, "CMD", "[\"x\", \"y\"]"),
                (12, "RUN", "last"),
            ]
        );
        assert_eq!(
            got[3].flags,
            [("chown".into(), "1:2".into()), ("from".into(), "s".into())]
        );
        assert_eq!(got[3].flag("chown"), Some("1:2"));
        assert_eq!(got[3].text(), "COPY --chown=1:2 --from=s a b");
        assert_eq!(got[3].short_text(), got[3].text());
        let long = parse("F", &format!("FROM a\nRUN {}\n", "é".repeat(500))).unwrap();
        let short = long[1].short_text();
        assert_eq!(short.chars().count(), 201);
        assert!(
            short.starts_with("RUN éé") && short.ends_with("é…"),
            "{short}"
        );
    }

    #[test]
    fn continuations_join_as_docker() {
        // Nothing is put between the pieces; a continued line keeps its
        // leading blanks, and blanks after the `\` go.
        let text = "\u{feff}FROM a\nENV P=hel\\\nlo Q=1\\  \n\n  R=2\nRUN echo \"a\\\n  b\"\n";
        let got = parse("F", text).unwrap();
        assert_eq!(
            kw(&got),
            [
                (1, "FROM", "a"),
                (2, "ENV", "P=hello Q=1  R=2"),
                (6, "RUN", "echo \"a  b\""),
            ]
        );
    }

    #[test]
    fn heredocs_are_seen() {
        let ins = |text: &str| instruction(1, text).unwrap().heredoc();
        for (text, is) in [
            ("RUN <<EOF", true),
            ("RUN cat <<-'X' > f", true),
            ("COPY <<\"E\" /x", true),
            ("RUN cat <<< word", false),
            ("RUN echo a<<1", false),
            ("ENV A=<<EOF", false),
            ("RUN echo \"<<EOF\" '<<X' \\<<Y", false),
            ("RUN echo \"a\" <<Z", true),
            ("RUN echo \"\\\"<<EOF\"", false),
        ] {
            assert_eq!(ins(text), is, "{text}");
        }
        // Refused at its line, before the body is read as instructions.
        let e = parse("F", "FROM a\nRUN <<EOF\napt-get update\nEOF\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "F: line 2: heredocs (<<WORD) are not supported"
        );
    }

    #[test]
    fn forms() {
        assert_eq!(
            Form::of(r#"["a", "b c"]"#),
            Form::Exec(vec!["a".into(), "b c".into()])
        );
        assert_eq!(Form::of("[not json"), Form::Shell("[not json".into()));
        assert_eq!(Form::of(" echo $X "), Form::Shell("echo $X".into()));
        let sh = ["/bin/sh".to_string(), "-c".to_string()];
        assert_eq!(Form::of("true").argv(&sh), ["/bin/sh", "-c", "true"]);
    }

    #[test]
    fn refused() {
        let e = parse("F", "RUN x\nFROM a\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "F: line 1: RUN before the first FROM (only ARG may come before it)"
        );
        assert_eq!(
            parse("F", "# only\nARG A\n").unwrap_err(),
            ParseError::NoFrom { file: "F".into() }
        );
        let e = parse("F", "FROM a\n1RUN x\n").unwrap_err();
        assert_eq!(e.to_string(), "F: line 2: \"1RUN\" is not an instruction");
    }
}
