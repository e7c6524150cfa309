//! The template functions: docker's (`json`, `join`, `split`, `lower`,
//! `upper`, `title`, `truncate`), Go's printing ones and `len` in place of
//! gtmpl's (which print lists and maps in Rust's debug form, and have no
//! `len` of a map, and whose `index` of a missing map key gives no value
//! where Go's gives the map's zero value), and `_go`, which [`super::guard`] pipes every printing
//! action through. Values print as Go's `%v` prints them: `[a b]` for a
//! list, `map[k:v]` (keys sorted) for a map or an object.

use gtmpl::{FuncError, Value};

/// Every function the templates get, over gtmpl's own of the same name.
pub const FUNCS: &[(&str, gtmpl::Func)] = &[
    ("_go", f_go),
    ("json", f_json),
    ("join", f_join),
    ("split", f_split),
    ("lower", f_lower),
    ("upper", f_upper),
    ("title", f_title),
    ("truncate", f_truncate),
    ("print", f_print),
    ("println", f_println),
    ("printf", f_printf),
    ("len", f_len),
    ("index", f_index),
    ("_label", f_label),
];

/// The hidden field of a listing's row that holds its labels as a map,
/// for `.Label "KEY"` ([`super::guard`]); `{{json .}}` and `{{.}}` leave
/// it out.
pub const LABELS_KEY: &str = "_labels";

/// The largest width or precision `printf` honours.
const MAX_WIDTH: usize = 4096;

/// Go's `%v` of a value.
pub fn go_text(v: &Value) -> String {
    match v {
        _ if super::is_nil_slice(v) => "[]".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_text).collect::<Vec<_>>().join(" ")),
        Value::Object(o) | Value::Map(o) => {
            let sorted: std::collections::BTreeMap<_, _> =
                o.iter().filter(|(k, _)| *k != LABELS_KEY).collect();
            let items: Vec<String> = sorted
                .into_iter()
                .map(|(k, x)| format!("{k}:{}", go_text(x)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        Value::Nil => "<nil>".into(),
        other => other.to_string(),
    }
}

/// A template value back as JSON, for `{{json .}}`.
fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        _ if super::is_nil_slice(v) || super::is_nil_map(v) => J::Null,
        Value::NoValue | Value::Nil | Value::Function(_) => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::String(s) => J::String(s.clone()),
        Value::Number(n) => n
            .as_u64()
            .map(J::from)
            .or_else(|| n.as_i64().map(J::from))
            .or_else(|| n.as_f64().map(J::from))
            .unwrap_or(J::Null),
        Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        Value::Object(o) | Value::Map(o) => {
            // Sorted, as Go's encoding/json sorts map keys.
            let sorted: std::collections::BTreeMap<_, _> =
                o.iter().filter(|(k, _)| *k != LABELS_KEY).collect();
            J::Object(
                sorted
                    .into_iter()
                    .map(|(k, x)| (k.clone(), to_json(x)))
                    .collect(),
            )
        }
    }
}

fn arg<'a>(args: &'a [Value], k: usize, name: &str) -> Result<&'a Value, FuncError> {
    args.get(k)
        .ok_or_else(|| FuncError::AtLeastXArgs(name.into(), k + 1))
}

fn text(args: &[Value], k: usize, name: &str) -> Result<String, FuncError> {
    arg(args, k, name).map(go_text)
}

fn f_go(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(go_text(arg(args, 0, "_go")?)))
}

fn f_json(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(to_json(arg(args, 0, "json")?).to_string()))
}

fn f_join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = text(args, 1, "join")?;
    match arg(args, 0, "join")? {
        Value::Array(a) => Ok(Value::String(
            a.iter().map(go_text).collect::<Vec<_>>().join(&sep),
        )),
        v if super::is_nil_slice(v) => Ok(Value::String(String::new())),
        _ => Err(FuncError::Generic(
            "join: the first argument is not a list".into(),
        )),
    }
}

/// Go's `strings.Split`: an empty separator splits into characters.
fn f_split(args: &[Value]) -> Result<Value, FuncError> {
    let (s, sep) = (text(args, 0, "split")?, text(args, 1, "split")?);
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.into())).collect()
    } else {
        s.split(sep.as_str())
            .map(|x| Value::String(x.into()))
            .collect()
    };
    Ok(Value::Array(parts))
}

fn f_lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(text(args, 0, "lower")?.to_lowercase()))
}

fn f_upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(text(args, 0, "upper")?.to_uppercase()))
}

/// Each word's first letter in upper case, as docker's `title`.
fn f_title(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(args, 0, "title")?;
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    Ok(Value::String(out))
}

fn f_truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(args, 0, "truncate")?;
    let n = match args.get(1) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
        _ => {
            return Err(FuncError::Generic(
                "truncate: the length is not a number".into(),
            ))
        }
    };
    Ok(Value::String(s.chars().take(n).collect()))
}

/// Go's `fmt.Sprint`: a space between two operands when neither is a string.
fn f_print(args: &[Value]) -> Result<Value, FuncError> {
    let mut out = String::new();
    for (k, v) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::String(_));
        if k > 0 && !is_str(v) && !is_str(&args[k - 1]) {
            out.push(' ');
        }
        out.push_str(&go_text(v));
    }
    Ok(Value::String(out))
}

/// Go's `fmt.Sprintln`: spaces between all operands, and a newline.
fn f_println(args: &[Value]) -> Result<Value, FuncError> {
    let words: Vec<String> = args.iter().map(go_text).collect();
    Ok(Value::String(format!("{}\n", words.join(" "))))
}

fn f_len(args: &[Value]) -> Result<Value, FuncError> {
    let n = match arg(args, 0, "len")? {
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        Value::Object(o) | Value::Map(o) => o.len(),
        other => {
            return Err(FuncError::Generic(format!(
                "len of {} is not defined",
                go_text(other)
            )))
        }
    };
    Ok(Value::from(n as u64))
}

/// docker's `.Label "KEY"` of a row: the label's value, "" when unset.
fn f_label(args: &[Value]) -> Result<Value, FuncError> {
    let key = text(args, 1, "Label")?;
    match arg(args, 0, "Label")? {
        Value::Object(o) | Value::Map(o) => match o.get(LABELS_KEY) {
            Some(Value::Map(m)) => Ok(m.get(&key).cloned().unwrap_or_else(|| "".into())),
            _ => Err(FuncError::Generic("no field Label".into())),
        },
        _ => Err(FuncError::Generic("no field Label".into())),
    }
}

/// Go's `index ITEM KEY…`: a list's element (a number in range), or a map's
/// value at a key; a key the map does not have gives the zero value of the
/// map's values (`""` for `Labels`), not `<no value>`.
fn f_index(args: &[Value]) -> Result<Value, FuncError> {
    let mut item = arg(args, 0, "index")?.clone();
    for key in &args[1..] {
        item = match (&item, key) {
            (Value::Array(a), Value::Number(n)) => {
                let i = n.as_u64().and_then(|i| usize::try_from(i).ok());
                match i.and_then(|i| a.get(i)) {
                    Some(v) => v.clone(),
                    None => {
                        return Err(FuncError::Generic(format!(
                            "index out of range: {}",
                            go_text(key)
                        )))
                    }
                }
            }
            (v, Value::Number(n)) if super::is_nil_slice(v) => {
                return Err(FuncError::Generic(format!("index out of range: {n}")))
            }
            (Value::Map(m) | Value::Object(m), Value::String(k)) => {
                m.get(k).cloned().unwrap_or_else(|| zero_of_values(m))
            }
            (v, _) => {
                return Err(FuncError::Generic(format!(
                    "can't index item of type {}",
                    match v {
                        Value::Nil | Value::NoValue => "nil",
                        Value::String(_) => "string",
                        Value::Bool(_) => "bool",
                        Value::Number(_) => "number",
                        _ => "this kind",
                    }
                )))
            }
        };
    }
    Ok(item)
}

/// The zero value of a map's values, told by the values it has: a string
/// map's (also an empty map's: docker's are mostly `map[string]string`)
/// is `""`, a map of structs' a nil pointer, a map of lists' a nil slice.
fn zero_of_values(m: &std::collections::HashMap<String, Value>) -> Value {
    match m.values().next() {
        None | Some(Value::String(_)) => Value::String(String::new()),
        Some(v) if super::is_nil_slice(v) => super::nil_slice(),
        Some(Value::Array(_)) => super::nil_slice(),
        Some(Value::Map(_)) => Value::Map(Default::default()),
        Some(Value::Bool(_)) => Value::Bool(false),
        Some(Value::Number(_)) => Value::from(0u64),
        Some(_) => Value::Nil,
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %q %t %x %X
/// %f %%`, with the `-` and `0` flags, a width and a precision.
fn f_printf(args: &[Value]) -> Result<Value, FuncError> {
    let format = text(args, 0, "printf")?;
    let mut operands = args[1..].iter();
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero) = (false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        // Widths and precisions are capped: a huge one would overflow, or
        // pad gigabytes.
        let number = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some((n.unwrap_or(0).saturating_mul(10)).saturating_add(d as usize));
                chars.next();
            }
            n.map(|n| n.min(MAX_WIDTH))
        };
        let width = number(&mut chars);
        let precision = if chars.peek() == Some(&'.') {
            chars.next();
            Some(number(&mut chars).unwrap_or(0))
        } else {
            None
        };
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = operands.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let number = |v: &Value| match v {
            Value::Number(n) => n.as_f64(),
            _ => None,
        };
        let mut s = match verb {
            'd' => match v {
                Value::Number(n) => n
                    .as_i64()
                    .map(|i| i.to_string())
                    .or_else(|| n.as_u64().map(|u| u.to_string()))
                    .unwrap_or_else(|| format!("%!d({})", go_text(v))),
                _ => format!("%!d({})", go_text(v)),
            },
            'f' | 'F' => match number(v) {
                Some(f) => format!("{f:.*}", precision.unwrap_or(6)),
                None => format!("%!f({})", go_text(v)),
            },
            'x' | 'X' => {
                let hex = match v {
                    Value::Number(n) => n.as_u64().map(|u| format!("{u:x}")),
                    Value::String(s) => Some(s.bytes().map(|b| format!("{b:02x}")).collect()),
                    _ => None,
                }
                .unwrap_or_else(|| format!("%!x({})", go_text(v)));
                if verb == 'X' {
                    hex.to_uppercase()
                } else {
                    hex
                }
            }
            'q' => format!("{:?}", go_text(v)),
            't' | 'v' | 's' => {
                let t = go_text(v);
                match precision {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
            other => format!("%!{other}({})", go_text(v)),
        };
        if let Some(w) = width {
            let len = s.chars().count();
            if len < w {
                let pad = w - len;
                if left {
                    s.push_str(&" ".repeat(pad));
                } else if zero && matches!(verb, 'd' | 'f' | 'F' | 'x' | 'X') {
                    let (sign, digits) = match s.strip_prefix('-') {
                        Some(d) => ("-", d.to_string()),
                        None => ("", s.clone()),
                    };
                    s = format!("{sign}{}{digits}", "0".repeat(pad));
                } else {
                    s = format!("{}{s}", " ".repeat(pad));
                }
            }
        }
        out.push_str(&s);
    }
    for extra in operands {
        out.push_str(&format!("%!(EXTRA {})", go_text(extra)));
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::String(x.into())
    }

    #[test]
    fn printing_as_go() {
        let list = Value::Array(vec![s("a"), s("b")]);
        let n = Value::from(42u64);
        let printf = |a: Vec<Value>| go_text(&f_printf(&a).unwrap());
        assert_eq!(
            printf(vec![s("%05d|%-4s|%3s|"), n.clone(), s("ab"), s("x")]),
            "00042|ab  |  x|"
        );
        assert_eq!(
            printf(vec![
                s("%v %s %q %d%%"),
                list.clone(),
                list.clone(),
                s("a\"b"),
                n.clone()
            ]),
            "[a b] [a b] \"a\\\"b\" 42%"
        );
        assert_eq!(
            printf(vec![
                s("%.2f %x %.1s"),
                Value::from(1.5f64),
                Value::from(255u64),
                s("xyz")
            ]),
            "1.50 ff x"
        );
        assert_eq!(printf(vec![s("%d")]), "%!d(MISSING)");
        // Huge widths neither overflow nor pad without end.
        let huge = printf(vec![
            s("%99999999999999999999999d|%.99999999999999999999f"),
            n.clone(),
            n.clone(),
        ]);
        assert!(huge.len() < 3 * MAX_WIDTH, "{}", huge.len());
        assert_eq!(
            go_text(&f_print(&[n.clone(), n.clone(), s("x"), n.clone()]).unwrap()),
            "42 42x42"
        );
        assert_eq!(
            go_text(&f_println(&[list.clone(), s("x")]).unwrap()),
            "[a b] x\n"
        );
        assert_eq!(
            go_text(&f_title(&[s("hello wide-world")]).unwrap()),
            "Hello Wide-World"
        );
        assert_eq!(go_text(&f_split(&[s("abc"), s("")]).unwrap()), "[a b c]");
        let map = Value::Map([("b".to_string(), n.clone()), ("a".to_string(), s("x"))].into());
        assert_eq!(go_text(&map), "map[a:x b:42]");
        assert_eq!(go_text(&f_len(&[map]).unwrap()), "2");
    }
}
