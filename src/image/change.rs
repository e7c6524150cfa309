//! `commit --change` instructions, read with Dockerfile syntax and applied
//! to an image config's `config` object.
//!
//! Supported: `CMD`, `ENTRYPOINT` (JSON exec form, else shell form),
//! `ENV` and `LABEL` (several `k=v` pairs, or the old `k value with
//! spaces` form), `EXPOSE` (several `port[-end][/proto]`), `WORKDIR`
//! (relative to the previous one), `USER`, `VOLUME` and `STOPSIGNAL` (a
//! signal name or number, [`crate::signal`], kept as written),
//! `HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D]
//! [--retries=N] CMD …` (docker's `Healthcheck`: `["CMD", …]` from the JSON
//! form, `["CMD-SHELL", "…"]` from the shell form, durations in
//! nanoseconds) and `HEALTHCHECK NONE`.
//! Words follow the Dockerfile shell-word rules: double and single quotes
//! group and are removed, a backslash escapes the next character (inside
//! double quotes only `"`, `\` and `$`), and `$V`, `${V}`, `${V:-w}`,
//! `${V:+w}`, `${V:?w}` (w expanded in turn) expand from the image's
//! environment as it was before the instruction (not inside single
//! quotes; never in CMD/ENTRYPOINT, which keep their text for the shell). A line that does not parse is an error
//! naming it; nothing is applied by the caller then.

use serde_json::{json, Map, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid --change {change:?}: {why}")]
pub struct ChangeError {
    pub change: String,
    pub why: String,
}

const KNOWN: [&str; 10] = [
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Applies one instruction to `cfg` (the config's `config` object).
pub fn apply(cfg: &mut Map<String, Value>, change: &str) -> Result<(), ChangeError> {
    apply_with(cfg, change, &[])
}

/// [`apply`], with `args` (a build's `ARG` values) also expanded; the
/// image's environment wins over an `ARG` of the same name, as in docker.
pub fn apply_with(
    cfg: &mut Map<String, Value>,
    change: &str,
    args: &[(String, String)],
) -> Result<(), ChangeError> {
    let fail = |why: &str| ChangeError {
        change: change.to_string(),
        why: why.to_string(),
    };
    let line = change.trim();
    let (word, rest) = line
        .split_once(char::is_whitespace)
        .map(|(w, r)| (w, r.trim()))
        .unwrap_or((line, ""));
    let word = word.to_ascii_uppercase();
    if !KNOWN.contains(&word.as_str()) {
        return Err(fail(&format!("use one of {}", KNOWN.join(", "))));
    }
    if rest.is_empty() {
        return Err(fail(&format!("{word} needs an argument")));
    }
    let env: Vec<(String, String)> = args.iter().cloned().chain(env_of(cfg)).collect();
    let words = |s: &str| split_words(s, &env).map_err(|w| fail(&w));
    match word.as_str() {
        "HEALTHCHECK" => {
            cfg.insert(
                "Healthcheck".into(),
                healthcheck(rest).map_err(|w| fail(&w))?,
            );
        }
        "CMD" | "ENTRYPOINT" => {
            let key = if word == "CMD" { "Cmd" } else { "Entrypoint" };
            cfg.insert(key.into(), exec_form(rest));
        }
        "ENV" | "LABEL" => {
            let pairs = name_values(rest, &env).map_err(|w| fail(&w))?;
            if word == "ENV" {
                let list = cfg.entry("Env").or_insert_with(|| json!([]));
                // Go writes an empty list as null (`"Env": null`).
                if list.is_null() {
                    *list = json!([]);
                }
                let list = list
                    .as_array_mut()
                    .ok_or_else(|| fail("Env is not a list"))?;
                for (k, v) in pairs {
                    list.retain(|e| {
                        e.as_str()
                            .and_then(|e| e.split_once('='))
                            .is_none_or(|(n, _)| n != k)
                    });
                    list.push(format!("{k}={v}").into());
                }
            } else {
                let labels = cfg.entry("Labels").or_insert_with(|| json!({}));
                if labels.is_null() {
                    *labels = json!({});
                }
                let labels = labels
                    .as_object_mut()
                    .ok_or_else(|| fail("Labels is not an object"))?;
                for (k, v) in pairs {
                    labels.insert(k, v.into());
                }
            }
        }
        "EXPOSE" => {
            let mut ports = Vec::new();
            for p in words(rest)? {
                ports.extend(expose(&p).ok_or_else(|| {
                    fail(&format!(
                        "invalid port {p:?}: expected PORT[-END][/tcp|udp|sctp]"
                    ))
                })?);
            }
            let map = object(cfg, "ExposedPorts").ok_or_else(|| fail("bad ExposedPorts"))?;
            for p in ports {
                map.insert(p, json!({}));
            }
        }
        "VOLUME" => {
            let list = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(v) => v
                    .iter()
                    .map(|w| expand(w, &env).map_err(|w| fail(&w)))
                    .collect::<Result<_, _>>()?,
                Err(_) => words(rest)?,
            };
            if list.iter().any(|v| v.is_empty()) {
                return Err(fail("VOLUME needs a path"));
            }
            let map = object(cfg, "Volumes").ok_or_else(|| fail("bad Volumes"))?;
            for v in list {
                map.insert(v, json!({}));
            }
        }
        _ => {
            // WORKDIR, USER, STOPSIGNAL: one word.
            let w = words(rest)?;
            let [value] = &w[..] else {
                return Err(fail(&format!("{word} takes one argument")));
            };
            let (key, value) = match word.as_str() {
                "WORKDIR" => {
                    let base = cfg.get("WorkingDir").and_then(Value::as_str).unwrap_or("");
                    let dir = std::path::Path::new("/").join(base).join(value);
                    ("WorkingDir", dir.to_string_lossy().into_owned())
                }
                "USER" => ("User", value.clone()),
                // Kept as written, if it names a signal (as docker).
                _ if crate::signal::Sig::parse(value).is_none() => {
                    return Err(fail(&format!("invalid signal {value:?}")));
                }
                _ => ("StopSignal", value.clone()),
            };
            cfg.insert(key.into(), value.into());
        }
    }
    Ok(())
}

/// The text after `HEALTHCHECK` → docker's `Healthcheck` object.
fn healthcheck(rest: &str) -> Result<Value, String> {
    let mut rest = rest.trim_start();
    let mut check = Map::new();
    while let Some(flag) = rest.strip_prefix("--") {
        let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
        let (name, value) = flag[..end]
            .split_once('=')
            .ok_or_else(|| format!("--{} needs a value", &flag[..end]))?;
        let key = match name {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "retries" => "Retries",
            other => return Err(format!("unknown HEALTHCHECK option --{other}")),
        };
        let n = if key == "Retries" {
            value.parse::<u64>().ok()
        } else {
            crate::container::health::parse_duration(value)
        }
        .ok_or_else(|| format!("invalid --{name} {value:?}"))?;
        check.insert(key.into(), json!(n));
        rest = flag[end..].trim_start();
    }
    let (kind, cmd) = rest
        .split_once(char::is_whitespace)
        .map(|(k, c)| (k, c.trim()))
        .unwrap_or((rest, ""));
    match (kind.to_ascii_uppercase().as_str(), cmd) {
        ("NONE", "") if check.is_empty() => return Ok(json!({"Test": ["NONE"]})),
        ("CMD", c) if !c.is_empty() => {
            let test = match serde_json::from_str::<Vec<String>>(c) {
                Ok(v) if !v.is_empty() => std::iter::once("CMD".to_string()).chain(v).collect(),
                _ => vec!["CMD-SHELL".to_string(), c.to_string()],
            };
            check.insert("Test".into(), json!(test));
        }
        _ => return Err("use HEALTHCHECK [OPTIONS] CMD COMMAND, or HEALTHCHECK NONE".into()),
    }
    Ok(Value::Object(check))
}

/// `CMD ["a","b"]` or `CMD a b` (shell form) → the JSON value.
fn exec_form(rest: &str) -> Value {
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(v) => json!(v),
        Err(_) => json!(["/bin/sh", "-c", rest]),
    }
}

fn object<'a>(cfg: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let v = cfg.entry(key).or_insert_with(|| json!({}));
    if v.is_null() {
        *v = json!({});
    }
    v.as_object_mut()
}

/// The config's environment, for `$V` expansion.
pub fn env_of(cfg: &Map<String, Value>) -> Vec<(String, String)> {
    cfg.get("Env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str()?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `EXPOSE` item (and `run --expose`'s value) → the `port/proto` keys (a
/// range gives each port; the protocol tcp, udp or sctp in any case,
/// lowercased, as docker and podman store it; none or empty is tcp).
pub fn expose(p: &str) -> Option<Vec<String>> {
    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    // `80/` is tcp too, as podman's.
    let proto = match proto {
        "" => "tcp".to_string(),
        p => p.to_ascii_lowercase(),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return None;
    }
    let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
    let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
    if a == 0 || b < a {
        return None;
    }
    Some((a..=b).map(|n| format!("{n}/{proto}")).collect())
}

/// `ENV`/`LABEL` arguments: `k=v k2=v2…`, or the old `k value…` form
/// (the rest of the line is the value).
pub fn name_values(rest: &str, env: &[(String, String)]) -> Result<Vec<(String, String)>, String> {
    // Which form, by the first word as the quotes group it (`"a b"=c` is
    // a pair).
    let words = raw_words(rest)?;
    let first = words.first().map_or("", String::as_str);
    if !first.contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{first:?} has no value: use NAME=VALUE"))?;
        let k = one_word(k, env)?;
        // The value keeps its inner spaces; quotes and escapes go.
        let v = expand(v.trim(), env)?;
        return Ok(vec![(k, v)]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!("{w:?} is not NAME=VALUE"));
        };
        let k = one_word(k, env)?;
        out.push((k, expand(v, env)?));
    }
    Ok(out)
}

fn one_word(k: &str, env: &[(String, String)]) -> Result<String, String> {
    let k = expand(k, env)?;
    if k.is_empty() {
        return Err("a NAME cannot be empty".into());
    }
    Ok(k)
}

/// Words, with quotes and escapes removed and variables expanded (the
/// last of two values of one name wins).
pub fn split_words(s: &str, env: &[(String, String)]) -> Result<Vec<String>, String> {
    raw_words(s)?.iter().map(|w| expand(w, env)).collect()
}

/// Splits at unquoted, unescaped whitespace; quotes and escapes are kept
/// (for [`expand`]). An unterminated quote is an error.
fn raw_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                continue;
            }
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None | Some('"'), '\\') => {
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
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}

/// One element of a JSON-form argument (`COPY ["$SRC", "/d"]`, `VOLUME
/// ["$DIR"]`), expanded as docker expands it: as one word.
pub fn expand_word(w: &str, env: &[(String, String)]) -> Result<String, String> {
    expand(w, env)
}

/// Expands the variables in `text` as BuildKit expands the body of a
/// COPY or ADD heredoc: quotes are characters like any other, and `\`
/// keeps the character after it as it is (the `\` goes).
pub fn expand_text(text: &str, env: &[(String, String)]) -> Result<String, String> {
    let mut chars = text.chars().peekable();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '$' => out.push_str(&variable(&mut chars, env)?),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Removes quotes and escapes and expands variables in one word (or a
/// whole old-form value: whitespace is kept as it is).
fn expand(w: &str, env: &[(String, String)]) -> Result<String, String> {
    expand_until(&mut w.chars().peekable(), env, None)
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// [`expand`] up to `stop` outside quotes (consumed; the end of the text
/// instead is an error), or to the end when there is no `stop`: the
/// word of a `${NAME:-word}`, which has quotes and variables of its own.
fn expand_until(
    chars: &mut Chars,
    env: &[(String, String)],
    stop: Option<char>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if Some(c) == stop => return Ok(out),
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), c) => out.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            (Some(_), '\\') => match chars.peek() {
                Some(&n) if matches!(n, '"' | '\\' | '$') => {
                    out.push(n);
                    chars.next();
                }
                Some(_) => out.push('\\'),
                None => {}
            },
            (_, '$') => out.push_str(&variable(chars, env)?),
            (_, c) => out.push(c),
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if stop.is_some() {
        return Err("unterminated ${…}".into());
    }
    Ok(out)
}

/// After a `$`: `NAME`, `{NAME}`, `{NAME:-word}`, `{NAME:+word}` or
/// `{NAME:?message}` (the word expanded in turn, so `${A:-$B}` and
/// `${A:-"x y"}` work as in docker). Positional names are digits only
/// (`$1x` is `$1` then `x`). A `$` followed by anything else is kept.
fn variable(chars: &mut Chars, env: &[(String, String)]) -> Result<String, String> {
    let lookup = |n: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    let braced = chars.peek() == Some(&'{');
    if braced {
        chars.next();
    }
    let mut name = String::new();
    while let Some(&c) = chars.peek() {
        let digits = name.chars().next().is_some_and(|f| f.is_ascii_digit());
        let fits = if name.is_empty() || digits {
            c.is_ascii_digit() || (name.is_empty() && (c.is_ascii_alphabetic() || c == '_'))
        } else {
            c.is_ascii_alphanumeric() || c == '_'
        };
        if !fits {
            break;
        }
        name.push(c);
        chars.next();
    }
    if !braced {
        if name.is_empty() {
            return Ok("$".into());
        }
        return Ok(lookup(&name).unwrap_or_default());
    }
    if name.is_empty() {
        return Err("bad substitution: ${ without a name".into());
    }
    let value = lookup(&name).filter(|v| !v.is_empty());
    match chars.next() {
        Some('}') => Ok(value.unwrap_or_default()),
        Some(':') => {
            let m = chars.next();
            let word = expand_until(chars, env, Some('}'))?;
            match m {
                Some('-') => Ok(value.unwrap_or(word)),
                Some('+') => Ok(value.map(|_| word).unwrap_or_default()),
                Some('?') => value.ok_or_else(|| {
                    if word.is_empty() {
                        format!("{name}: is not set")
                    } else {
                        format!("{name}: {word}")
                    }
                }),
                _ => Err(format!("unsupported substitution ${{{name}:…}}")),
            }
        }
        Some(c) => Err(format!("unsupported substitution ${{{name}{c}…}}")),
        None => Err("unterminated ${…}".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Map<String, Value> {
        let mut cfg = Map::new();
        for c in changes {
            apply(&mut cfg, c).unwrap_or_else(|e| panic!("{c}: {e}"));
        }
        cfg
    }

    fn env(changes: &[&str]) -> Vec<String> {
        serde_json::from_value(applied(changes)["Env"].clone()).unwrap()
    }

    #[test]
    fn healthcheck_forms() {
        let h = applied(&["HEALTHCHECK --interval=200ms --retries=2 CMD echo hi there"]);
        assert_eq!(
            h["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "echo hi there"], "Interval": 200_000_000u64, "Retries": 2})
        );
        let h = applied(&[r#"HEALTHCHECK --start-period=1s CMD ["true", "x"]"#]);
        assert_eq!(
            h["Healthcheck"],
            json!({"Test": ["CMD", "true", "x"], "StartPeriod": 1_000_000_000u64})
        );
        assert_eq!(
            applied(&["HEALTHCHECK NONE"])["Healthcheck"],
            json!({"Test": ["NONE"]})
        );
        let mut cfg = Map::new();
        for bad in [
            "HEALTHCHECK --interval=soon CMD true",
            "HEALTHCHECK --every=1s CMD true",
            "HEALTHCHECK CMD",
            "HEALTHCHECK true",
        ] {
            assert!(apply(&mut cfg, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_pairs_quotes_and_old_form() {
        assert_eq!(env(&["ENV A=1 B=2"]), ["A=1", "B=2"]);
        assert_eq!(env(&[r#"ENV Q="hello world""#]), ["Q=hello world"]);
        assert_eq!(env(&["ENV Q='a \"b\" $X'"]), ["Q=a \"b\" $X"]);
        assert_eq!(
            env(&[r#"ENV E=a\ b F="x\"y\\z\q""#]),
            [r#"E=a b"#, r#"F=x"y\z\q"#]
        );
        assert_eq!(env(&["ENV K value with  spaces"]), ["K=value with  spaces"]);
        assert_eq!(env(&[r#"env K "quoted old" form"#]), ["K=quoted old form"]);
        assert_eq!(
            env(&["ENV A=1", "ENV A=2 B=$A C=${A}x"]),
            ["A=2", "B=1", "C=1x"]
        );
        assert_eq!(
            env(&["ENV N=${U:-dflt} M=${A:+set} P=${P:+no} D=$ E=\\$A"]),
            ["N=dflt", "M=", "P=", "D=$", "E=$A"]
        );
        assert_eq!(env(&["ENV E="]), ["E="]);
        let mut cfg = Map::new();
        cfg.insert("Env".into(), Value::Null);
        apply(&mut cfg, "ENV N=1").unwrap();
        assert_eq!(cfg["Env"], json!(["N=1"]));
        // The word of ${V:-word} is expanded in turn, quotes and all.
        assert_eq!(
            env(&[
                "ENV A=2",
                "ENV K=${NOPE:-$A} L=${NOPE:-${A}x}y M=${NOPE:-'x y'} G=$1x H=${A}} Q=${A:?must} R=${A:+\"$A $A\"}"
            ]),
            ["A=2", "K=2", "L=2xy", "M=x y", "G=x", "H=2}", "Q=2", "R=2 2"]
        );
    }

    #[test]
    fn labels_and_others() {
        let cfg = applied(&[
            r#"LABEL x=y z=w "with space"="v 1""#,
            "LABEL old form value",
            r#"LABEL "first key"="v 2" 'q'=1"#,
            "EXPOSE 80 53/udp 8000-8002/TCP",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
            r#"VOLUME ["/data", "/logs"]"#,
            "ENV D=/from-env",
            r#"VOLUME ["$D/x"]"#,
            "VOLUME /a /b",
            "STOPSIGNAL SIGINT",
            r#"CMD ["echo", "a b"]"#,
            "ENTRYPOINT exec  sh -c 'x'",
        ]);
        assert_eq!(
            cfg["Labels"],
            json!({"x": "y", "z": "w", "with space": "v 1", "old": "form value",
                   "first key": "v 2", "q": "1"})
        );
        let mut ports: Vec<&String> = cfg["ExposedPorts"].as_object().unwrap().keys().collect();
        ports.sort();
        assert_eq!(
            ports,
            ["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert_eq!(cfg["WorkingDir"], "/srv/app");
        assert_eq!(cfg["User"], "1000:1000");
        let mut vols: Vec<&String> = cfg["Volumes"].as_object().unwrap().keys().collect();
        vols.sort();
        assert_eq!(vols, ["/a", "/b", "/data", "/from-env/x", "/logs"]);
        assert_eq!(cfg["StopSignal"], "SIGINT");
        for (sig, kept) in [("rtmin+3", "rtmin+3"), ("9", "9"), ("usr1", "usr1")] {
            assert_eq!(applied(&[&format!("STOPSIGNAL {sig}")])["StopSignal"], kept);
        }
        assert_eq!(cfg["Cmd"], json!(["echo", "a b"]));
        assert_eq!(
            cfg["Entrypoint"],
            json!(["/bin/sh", "-c", "exec  sh -c 'x'"])
        );
        // CMD [ not JSON ] is the shell form, as in a Dockerfile.
        assert_eq!(
            applied(&["CMD [oops"])["Cmd"],
            json!(["/bin/sh", "-c", "[oops"])
        );
    }

    #[test]
    fn bad_lines() {
        for bad in [
            "",
            "ENV",
            "ENV A",
            "ENV A=1 B",
            "ENV =1",
            "ENV A=\"open",
            "LABEL x='open",
            "EXPOSE 0",
            "EXPOSE 70000",
            "EXPOSE 80/icmp",
            "EXPOSE 90-80",
            "EXPOSE http",
            "USER a b",
            "WORKDIR",
            "STOPSIGNAL BOGUS",
            "STOPSIGNAL 0",
            "STOPSIGNAL 65",
            "STOPSIGNAL RTMIN+31",
            "STOPSIGNAL TERM KILL",
            "ENV A=${B:?x}",
            "ENV A=${",
            "ENV A=${B:-x",
            "ENV A=${B:-${C}",
            "ENV A=${B/x/y}",
            "RUN true",
            "FROM x",
            "COPY a b",
        ] {
            let mut cfg = Map::new();
            let e = apply(&mut cfg, bad).expect_err(bad);
            assert_eq!(e.change, bad);
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}
