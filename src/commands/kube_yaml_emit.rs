//! The YAML `generate kube` prints (`to_yaml`): block style, each string
//! plain when a YAML reader takes it back as that string, else
//! double-quoted. Theory of operation: a walk of the `serde_json::Value`,
//! a map's values and a list's items indented under it, a map that is a
//! list item starting on the item's `- ` line.

use serde_json::Value;

/// `v` as block-style YAML (one document, no `---`).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    emit(v, 0, &mut out);
    out
}

fn emit(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.push_str(&pad);
                out.push_str(&scalar(&Value::String(k.clone())));
                out.push(':');
                match v {
                    Value::Object(o) if o.is_empty() => out.push_str(" {}\n"),
                    Value::Array(a) if a.is_empty() => out.push_str(" []\n"),
                    Value::Object(_) => {
                        out.push('\n');
                        emit(v, indent + 2, out);
                    }
                    Value::Array(_) => {
                        out.push('\n');
                        emit(v, indent, out);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&scalar(v));
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(a) => {
            for item in a {
                match item {
                    Value::Object(o) if !o.is_empty() => {
                        // The item's first key goes on the "- " line.
                        let mut inner = String::new();
                        emit(item, indent + 2, &mut inner);
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&inner[indent + 2..]);
                    }
                    Value::Array(x) if !x.is_empty() => {
                        out.push_str(&pad);
                        out.push_str("-\n");
                        emit(item, indent + 2, out);
                    }
                    _ => {
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&match item {
                            Value::Object(_) => "{}".into(),
                            Value::Array(_) => "[]".into(),
                            _ => scalar(item),
                        });
                        out.push('\n');
                    }
                }
            }
        }
        _ => {
            out.push_str(&pad);
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
}

/// A scalar: plain when YAML reads it back as the same string, else
/// double-quoted (JSON's escapes are YAML's).
fn scalar(v: &Value) -> String {
    let Value::String(s) = v else {
        return v.to_string();
    };
    let keyword = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
    );
    // A dotted quad (an address) is no number; other digits first are
    // left quoted (YAML 1.1 reads times and dates from them).
    let address = s.split('.').count() == 4 && s.split('.').all(|p| p.parse::<u8>().is_ok());
    let plain = !s.is_empty()
        && !keyword
        && (address || s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '_'))
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-: ".contains(c))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && s.parse::<f64>().is_err();
    if plain {
        s.clone()
    } else {
        Value::String(s.clone()).to_string()
    }
}
