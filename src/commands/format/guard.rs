//! What a `--format` template is checked for and rewritten into before
//! gtmpl parses it.
//!
//! gtmpl 0.7 loops forever on an action left open at the end of the text
//! (`{{ .ID `) and on a short `\x`/`\u` escape in a string, panics on a
//! non-ASCII character in an action outside a string, overflows the stack
//! on a template that calls itself or nests a few hundred levels deep, and
//! runs the `else` of a `range` even
//! when the list is not empty. [`actions`] finds the actions and refuses
//! all of these with a one-line error; [`print_as_go`] also pipes every
//! action that prints through `_go` ([`super::funcs`]).

use anyhow::{bail, Result};
use std::ops::Range;

/// How deep parentheses and blocks may nest: gtmpl recurses for each level
/// and overflowed its stack at a few hundred.
const MAX_DEPTH: usize = 100;

/// The insides of the template's actions (between `{{` and `}}`), as
/// byte ranges, each checked. Strings and comments are skipped as wholes,
/// since they may hold braces.
pub fn actions(t: &str) -> Result<Vec<Range<usize>>> {
    let b = t.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(open) = t[i..].find("{{").map(|k| k + i) {
        let mut k = open + 2;
        let mut closed = false;
        let mut depth = 0usize;
        while k < b.len() {
            match b[k] {
                q @ (b'"' | b'`' | b'\'') => k = string_end(t, k, q)?,
                b'(' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        bail!("template: parentheses nested deeper than {MAX_DEPTH}");
                    }
                    k += 1;
                }
                b')' => {
                    depth = depth.saturating_sub(1);
                    k += 1;
                }
                b'/' if b.get(k + 1) == Some(&b'*') => {
                    k = t[k + 2..].find("*/").map_or(b.len(), |e| k + 2 + e + 2);
                }
                b'}' if b.get(k + 1) == Some(&b'}') => {
                    closed = true;
                    break;
                }
                c if !c.is_ascii() => {
                    bail!(
                        "template: a character outside quotes that is not ASCII, in {:?}",
                        &t[open..]
                    );
                }
                _ => k += 1,
            }
        }
        if !closed {
            bail!("template: unclosed action at {:?}", &t[open..]);
        }
        found.push(open + 2..k);
        i = k + 2;
    }
    Ok(found)
}

/// The index just past the string or character constant that starts at
/// `k` with the quote `q`; an escape gtmpl cannot read is an error.
fn string_end(t: &str, mut k: usize, q: u8) -> Result<usize> {
    let b = t.as_bytes();
    let start = k;
    k += 1;
    while k < b.len() && b[k] != q {
        if b[k] == b'\\' && q != b'`' {
            let hex = |n: usize| {
                b.get(k + 2..k + 2 + n)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
            };
            let len = match b.get(k + 1) {
                Some(b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'\\' | b'"' | b'\'') => 2,
                Some(b'x') if hex(2) => 4,
                Some(b'u') if hex(4) => 6,
                Some(b'U') if hex(8) => 10,
                _ => bail!(
                    "template: bad escape in the string {:?}",
                    &t[start
                        ..t.len()
                            .min(k + 2 + t[k + 1..].chars().next().map_or(0, char::len_utf8))]
                ),
            };
            k += len;
        } else {
            k += 1;
        }
    }
    Ok(k + 1)
}

/// The template with every action that prints a value piped through
/// `_go`. Control actions (`if`, `range`, `end`, …), comments and variable
/// assignments print nothing and stay as they are.
pub fn print_as_go(t: &str) -> Result<String> {
    const CONTROL: &[&str] = &["if", "else", "end", "range", "with", "break", "continue"];
    let mut out = String::with_capacity(t.len() + 16);
    let mut last = 0;
    // The open blocks, to find a `range`'s `else`.
    let mut blocks: Vec<&str> = Vec::new();
    for r in actions(t)? {
        let inner = &t[r.clone()];
        // Trim markers: `{{- ` and ` -}}`.
        let body = inner.strip_prefix("- ").unwrap_or(inner);
        let body_end = if inner.ends_with(" -") {
            r.end - 2
        } else {
            r.end
        };
        let trimmed = body.trim_start();
        let first = trimmed
            .split(|c: char| c.is_whitespace() || c == '(')
            .next()
            .unwrap_or("");
        match first {
            "define" | "template" | "block" => {
                bail!("template: {first} is not supported in --format")
            }
            "if" | "range" | "with" => {
                blocks.push(first);
                if blocks.len() > MAX_DEPTH {
                    bail!("template: blocks nested deeper than {MAX_DEPTH}");
                }
            }
            "end" => {
                blocks.pop();
            }
            "else" if blocks.last() == Some(&"range") => {
                bail!("template: range … else is not supported in --format")
            }
            _ => {}
        }
        let prints = !trimmed.starts_with("/*")
            && !CONTROL.contains(&first)
            && !assigns(trimmed)
            && !trimmed.trim().is_empty();
        out.push_str(&t[last..r.start]);
        out.push_str(&label_calls(&t[r.start..body_end]));
        if prints {
            out.push_str(" | _go");
        }
        last = body_end;
    }
    out.push_str(&t[last..]);
    Ok(out)
}

/// `action` with docker's method call `.Label "KEY"` (of a listing's row)
/// made a call of `_label . "KEY"`, which gtmpl can run: it has fields but
/// no methods. Strings are left alone.
fn label_calls(action: &str) -> String {
    const CALL: &str = ".Label";
    let b = action.as_bytes();
    let mut out = String::with_capacity(action.len() + 8);
    let mut k = 0;
    while k < b.len() {
        match b[k] {
            q @ (b'"' | b'`' | b'\'') => {
                let end = string_end(action, k, q).unwrap_or(b.len()).min(b.len());
                out.push_str(&action[k..end]);
                k = end;
            }
            b'.' if action[k..].starts_with(CALL)
                && b.get(k + CALL.len())
                    .is_some_and(|c| c.is_ascii_whitespace())
                && (k == 0 || !is_word(b[k - 1])) =>
            {
                out.push_str("_label .");
                k += CALL.len();
            }
            _ => {
                let next = action[k..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&action[k..k + next]);
                k += next;
            }
        }
    }
    out
}

/// A byte of a name or a field chain (`$c.Label` is not a row's call).
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'.' || c == b')'
}

/// Whether an action declares or assigns a variable (`$x := …`, `$x = …`).
fn assigns(action: &str) -> bool {
    let b = action.as_bytes();
    let mut k = 0;
    while k < b.len() {
        match b[k] {
            q @ (b'"' | b'`' | b'\'') => k = string_end(action, k, q).unwrap_or(b.len()),
            b':' if b.get(k + 1) == Some(&b'=') => return true,
            b'=' => return true,
            _ => k += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_gtmpl_cannot_run_is_refused() {
        let parens = format!("{{{{{}.A{}}}}}", "(".repeat(300), ")".repeat(300));
        let ifs = "{{if .A}}".repeat(300);
        for t in [
            r#"{{ "\x" }}"#,
            r#"{{ "\u12" }}"#,
            r#"{{ "a\x4" }}"#,
            r#"{{ "\é" }}"#,
            "{{ é }}",
            "{{$é := 1}}",
            r#"{{define "t"}}{{template "t" .}}{{end}}"#,
            "{{range .A}}x{{else}}y{{end}}",
            &parens,
            &ifs,
        ] {
            assert!(print_as_go(t).is_err(), "{t}");
        }
        for t in [
            r#"{{ "\x41\u00e9\t" }}"#,
            r#"{{ "é" }} é"#,
            "{{range .A}}{{if .B}}x{{else}}y{{end}}{{end}}",
            "{{if .A}}x{{else if .B}}y{{else}}z{{end}}",
            "{{with .A}}x{{else}}y{{end}}",
        ] {
            assert!(print_as_go(t).is_ok(), "{t}");
        }
    }
}

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn label_method_calls_become_function_calls() {
        assert_eq!(
            print_as_go(r#"{{.Label "a"}} {{ .Label "b" | upper }}"#).unwrap(),
            r#"{{_label . "a" | _go}} {{ _label . "b" | upper  | _go}}"#
        );
        // Not a row's call: other fields, a variable's, inside a string.
        for t in [
            "{{.Labels}}",
            r#"{{$c.Label "a"}}"#,
            r#"{{.State.Label "a"}}"#,
            r#"{{" .Label x"}}"#,
        ] {
            assert!(!print_as_go(t).unwrap().contains("_label"), "{t}");
        }
    }
}
