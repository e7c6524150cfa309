//! Reading a Containerfile into instructions.
//!
//! Theory of operation: the parser directives at the top of the file come
//! first (`# escape=` sets the escape character, `\` or a backtick;
//! `# syntax=` and `# check=` are read and have no effect on rless); they
//! end at the first line that is not one. Then the text is read line by
//! line. A line whose first non-blank character is `#` is a comment; a
//! line ending in the escape character goes on with the next line
//! (comment and empty lines inside such a run are skipped, as docker
//! does). Each joined line is one [`Instruction`]: its keyword
//! (upper-cased), the number of the line it starts on, its leading
//! `--name=value` flags, and the rest of the text as written. A RUN, COPY
//! or ADD that opens heredocs (`RUN <<EOF`) takes the lines after it as
//! their bodies ([`heredoc`](super::heredoc)). What the rest means (exec
//! or shell form, words, variables) is read per keyword by the build,
//! which knows the variables in scope; [`Form`] is the shared piece.

use super::heredoc::{self, Heredoc};

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
    /// The heredocs it opens, with their bodies (RUN, COPY and ADD).
    pub heredocs: Vec<Heredoc>,
    /// The file's escape character (`# escape=`) in `rest`: with a
    /// backtick, the words of an instruction other than RUN, CMD,
    /// ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER and ONBUILD are
    /// rewritten to `\`'s escapes ([`backslashed`]), and this is `\`.
    pub escape: char,
    /// The text as written, when `rest` was rewritten.
    pub written: Option<String>,
}

impl Instruction {
    /// The instruction as `history` shows it: keyword, flags, text.
    pub fn text(&self) -> String {
        let mut s = self.keyword.clone();
        for (k, v) in &self.flags {
            // A bare flag (`COPY --link`) as written, not `--link=`.
            match v.is_empty() {
                true => s.push_str(&format!(" --{k}")),
                false => s.push_str(&format!(" --{k}={v}")),
            }
        }
        let rest = self.written.as_ref().unwrap_or(&self.rest);
        if !rest.is_empty() {
            s.push(' ');
            s.push_str(rest);
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

    /// [`Instruction::text`] and the heredocs' bodies: what the step
    /// is, for the build cache's key.
    pub fn key_text(&self) -> String {
        let mut s = self.text();
        for h in &self.heredocs {
            s.push_str(&format!("\n{}{}", h.body, h.name));
        }
        s
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
/// other than ARG before the first FROM, and a heredoc without its
/// delimiter line.
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
    // Which lines end in CRLF: a heredoc's body keeps its `\r`s, as
    // BuildKit keeps the body's lines as written (an instruction's line
    // ends without it).
    let crlf: Vec<bool> = text
        .split_inclusive('\n')
        .map(|l| l.ends_with("\r\n"))
        .collect();
    let (escape, mut i) = directives(&lines).map_err(|(n, w)| bad(n, w))?;
    while i < lines.len() {
        let raw = lines[i];
        let n = i + 1;
        i += 1;
        let trimmed = raw.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        // As docker: the escape character (and blanks after it) goes, and
        // the next line follows with nothing put between, its own leading
        // blanks kept (`hel\` + `lo` is `hello`).
        let line = if pending.is_some() {
            raw.trim_end()
        } else {
            trimmed
        };
        let (body, more) = match line.strip_suffix(escape) {
            Some(b) => (b, true),
            None => (line, false),
        };
        let (start, mut joined) = pending.take().unwrap_or((n, String::new()));
        joined.push_str(body);
        if more && i < lines.len() {
            pending = Some((start, joined));
            continue;
        }
        let mut ins = instruction(start, &joined, escape).map_err(|w| bad(start, w))?;
        // The bodies, before their lines are taken for instructions.
        for mut doc in ins.heredocs.drain(..).collect::<Vec<_>>() {
            loop {
                let cr = crlf.get(i).copied().unwrap_or(false);
                let Some(l) = lines.get(i) else {
                    return Err(bad(
                        start,
                        format!(
                            "unterminated heredoc <<{}: no line {} ends it",
                            doc.name, doc.name
                        ),
                    ));
                };
                i += 1;
                let end = if doc.chomp {
                    l.trim_start_matches('\t')
                } else {
                    l
                };
                if *end == doc.name {
                    break;
                }
                doc.body.push_str(l);
                if cr {
                    doc.body.push('\r');
                }
                doc.body.push('\n');
            }
            ins.heredocs.push(doc);
        }
        out.push(ins);
    }
    if let Some((start, joined)) = pending {
        let ins = instruction(start, &joined, escape).map_err(|w| bad(start, w))?;
        if let Some(doc) = ins.heredocs.first() {
            return Err(bad(
                start,
                format!(
                    "unterminated heredoc <<{}: no line {} ends it",
                    doc.name, doc.name
                ),
            ));
        }
        out.push(ins);
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

/// The parser directives at the top of `lines` (`# name=value`, the name
/// in any case): the escape character, and the index of the first line
/// after them. A directive given twice, or an escape other than `\` or
/// a backtick, is an error (line number, why), as in docker; a name
/// docker does not know ends them, as any other line does.
fn directives(lines: &[&str]) -> Result<(char, usize), (usize, String)> {
    let mut escape = '\\';
    let mut seen: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some((name, value)) = l
            .trim()
            .strip_prefix('#')
            .and_then(|d| d.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
        else {
            return Ok((escape, i));
        };
        if !matches!(name.as_str(), "escape" | "syntax" | "check") || value.is_empty() {
            return Ok((escape, i));
        }
        if seen.contains(&name) {
            return Err((
                i + 1,
                format!("only one {name} parser directive can be used"),
            ));
        }
        if name == "escape" {
            escape = match value {
                "\\" => '\\',
                "`" => '`',
                v => return Err((i + 1, format!("invalid escape {v:?}: use \\ or `"))),
            };
        }
        seen.push(name);
    }
    Ok((escape, lines.len()))
}

fn instruction(line: usize, text: &str, escape: char) -> Result<Instruction, String> {
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
    let keyword = word.to_ascii_uppercase();
    // The shell form of RUN, COPY and ADD may open heredocs.
    let heredocs = match (keyword.as_str(), Form::of(rest)) {
        ("RUN" | "COPY" | "ADD", Form::Shell(_)) => heredoc::opened_in(rest, escape),
        // `ONBUILD RUN <<EOF`: the trigger's heredocs are its own lines
        // too (BuildKit's), not instructions of this file.
        ("ONBUILD", _) => match rest.split_once(char::is_whitespace) {
            Some((inner, after))
                if ["RUN", "COPY", "ADD"].contains(&inner.to_ascii_uppercase().as_str()) =>
            {
                match Form::of(after.trim_start()) {
                    Form::Shell(_) => heredoc::opened_in(after, escape),
                    Form::Exec(_) => Vec::new(),
                }
            }
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    // The words of the build's other instructions are read with `\` as
    // the escape: a backtick file's are rewritten so (not a command the
    // shell reads, nor the JSON form, nor text kept as written).
    let raw = matches!(
        keyword.as_str(),
        "RUN" | "CMD" | "ENTRYPOINT" | "SHELL" | "HEALTHCHECK" | "MAINTAINER" | "ONBUILD"
    );
    let (rest, written, escape) = match Form::of(rest) {
        Form::Shell(_) if escape == '`' && !raw => {
            (backslashed(rest), Some(rest.to_string()), '\\')
        }
        _ => (rest.to_string(), None, escape),
    };
    Ok(Instruction {
        line,
        keyword,
        flags,
        rest,
        heredocs,
        escape,
        written,
    })
}

/// `text` written with a backtick as its escape character, rewritten
/// with `\` as the escape (as BuildKit reads it): outside quotes a
/// backtick escapes the next character and a `\` is a character; in
/// double quotes a backtick escapes only `"`, `$` and itself; in single
/// quotes nothing is escaped.
pub fn backslashed(text: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (_, '\\') => {
                out.push_str("\\\\");
                continue;
            }
            (None, '`') => {
                match chars.next() {
                    Some('`') => out.push('`'),
                    Some(n) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => {}
                }
                continue;
            }
            (Some(_), '`') => {
                match chars.peek() {
                    Some(&n @ ('"' | '$')) => {
                        out.push('\\');
                        out.push(n);
                        chars.next();
                    }
                    Some('`') => {
                        out.push('`');
                        chars.next();
                    }
                    _ => out.push('`'),
                }
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
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
        let bare = parse("F", "FROM a\nCOPY --link --chmod=755 a b\n").unwrap();
        assert_eq!(bare[1].text(), "COPY --link --chmod=755 a b");
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
    fn crlf_heredoc_bodies_keep_their_crs() {
        let got = parse(
            "F",
            "FROM a\r\nCOPY <<EOF /f\r\none\r\ntwo\nEOF\r\nRUN <<-X\r\n\tx\r\n\tX\r\nRUN done\r\n",
        )
        .unwrap();
        let kw: Vec<(usize, &str)> = got.iter().map(|i| (i.line, i.keyword.as_str())).collect();
        assert_eq!(kw, [(1, "FROM"), (2, "COPY"), (6, "RUN"), (9, "RUN")]);
        assert_eq!(got[1].heredocs[0].body, "one\r\ntwo\n");
        assert_eq!(got[1].rest, "<<EOF /f");
        assert_eq!(got[2].heredocs[0].body, "\tx\r\n");
        assert_eq!(got[3].rest, "done");
    }

    #[test]
    fn onbuild_heredocs_take_their_bodies() {
        let got = parse(
            "F",
            "FROM a\nONBUILD RUN <<EOF\nFROBNICATE not an instruction\nEOF\nONBUILD RUN [\"<<X\"]\nRUN done\n",
        )
        .unwrap();
        let kw: Vec<(usize, &str)> = got.iter().map(|i| (i.line, i.keyword.as_str())).collect();
        assert_eq!(
            kw,
            [(1, "FROM"), (2, "ONBUILD"), (5, "ONBUILD"), (6, "RUN")]
        );
        assert_eq!(got[1].heredocs[0].body, "FROBNICATE not an instruction\n");
        assert!(got[2].heredocs.is_empty());
    }

    #[test]
    fn heredocs_take_their_bodies() {
        let text = "FROM a\n\
            RUN <<EOF\n\
            # not a comment\n\
            \n\
            echo \"$A\"\n\
            EOF\n\
            COPY <<-\"one\" <<two \\\n\
              /dir/\n\
            \tfirst\n\
            \tone\n\
            second\n\
            two\n\
            RUN [\"<<NOT\"]\n\
            ENV A=<<NOT\n\
            RUN echo done\n";
        let got = parse("F", text).unwrap();
        assert_eq!(
            kw(&got),
            [
                (1, "FROM", "a"),
                (2, "RUN", "<<EOF"),
                (7, "COPY", "<<-\"one\" <<two /dir/"),
                (13, "RUN", "[\"<<NOT\"]"),
                (14, "ENV", "A=<<NOT"),
                (15, "RUN", "echo done"),
            ]
        );
        let docs = |i: usize| -> Vec<(&str, bool, bool, &str)> {
            got[i]
                .heredocs
                .iter()
                .map(|h| (h.name.as_str(), h.chomp, h.expand, h.body.as_str()))
                .collect()
        };
        assert_eq!(
            docs(1),
            [("EOF", false, true, "# not a comment\n\necho \"$A\"\n")]
        );
        assert_eq!(
            docs(2),
            [
                ("one", true, false, "\tfirst\n"),
                ("two", false, true, "second\n")
            ]
        );
        assert!(docs(3).is_empty() && docs(4).is_empty() && docs(5).is_empty());
        // The body is in the cache's key, not in the history's text.
        assert_eq!(got[1].text(), "RUN <<EOF");
        assert_eq!(
            got[1].key_text(),
            "RUN <<EOF\n# not a comment\n\necho \"$A\"\nEOF"
        );
        let other = parse("F", "FROM a\nRUN <<EOF\necho other\nEOF\n").unwrap();
        assert_ne!(other[1].key_text(), got[1].key_text());

        // Unterminated: refused at the instruction's line.
        for text in [
            "FROM a\nRUN <<EOF\necho x\n",
            "FROM a\nRUN <<EOF\n EOF\n",
            "FROM a\nRUN <<-EOF\n  EOF\n",
            "FROM a\nRUN <<EOF \\\n",
        ] {
            let e = parse("F", text).unwrap_err();
            assert_eq!(
                e.to_string(),
                "F: line 2: unterminated heredoc <<EOF: no line EOF ends it",
                "{text:?}"
            );
        }
        let e = parse("F", "FROM a\nCOPY <<A <<B /d/\na\nA\nb\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "F: line 2: unterminated heredoc <<B: no line B ends it"
        );
    }

    #[test]
    fn directives() {
        // A backtick escape: `\` is text, and a backtick continues.
        let text = "# syntax=docker/dockerfile:1\n#ESCAPE = `\n# check=skip=all\n\
            FROM a\nCOPY c:\\x `\n  /y\nRUN <<E`OF\nbody\nEOF\n";
        let got = parse("F", text).unwrap();
        assert_eq!(
            kw(&got),
            [
                (4, "FROM", "a"),
                (5, "COPY", "c:\\\\x   /y"),
                (7, "RUN", "<<E`OF")
            ]
        );
        // COPY's words are rewritten for `\`; its text is as written.
        assert_eq!(got[1].text(), "COPY c:\\x   /y");
        assert_eq!((got[1].escape, got[2].escape), ('\\', '`'));
        assert_eq!(got[2].heredocs[0].name, "EOF");
        assert_eq!(
            backslashed(r#"a\b `$X `` "q`"\`$`x" 'l`\' `"#),
            r#"a\\b \$X ` "q\"\\\$`x" 'l`\' "#
        );
        // Only at the top: after another line it is a comment.
        let got = parse("F", "# hello\n# escape=`\nFROM a\nRUN x \\\n y\n").unwrap();
        assert_eq!(kw(&got), [(3, "FROM", "a"), (4, "RUN", "x  y")]);
        assert_eq!(got[0].escape, '\\');
        for (text, why) in [
            (
                "# escape=`\n# escape=\\\nFROM a\n",
                "F: line 2: only one escape parser directive can be used",
            ),
            (
                "# escape=x\nFROM a\n",
                "F: line 1: invalid escape \"x\": use \\ or `",
            ),
        ] {
            assert_eq!(parse("F", text).unwrap_err().to_string(), why);
        }
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
