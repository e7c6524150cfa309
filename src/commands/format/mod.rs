//! `--format` of the listing and inspect commands: docker's Go templates.
//!
//! Theory of operation:
//! - Every command turns what it prints into JSON values: one per row for
//!   `ps`, `images`, `network ls` and `volume ls`, one per object for
//!   `inspect`. `--format json` prints the command's own JSON; anything
//!   else is a Go `text/template` run on each value (the `gtmpl` crate), one
//!   output line per value, as docker does.
//! - `table TEMPLATE` (and plain `table`, the default, which is the command's
//!   own template) prints a header first and lines the `\t`-separated cells
//!   up in columns. The header is the same template run on the command's
//!   header names (`{{.ID}}` gives `CONTAINER ID`), which is how docker's
//!   formatter does it. `\t` and `\n` written literally in the argument are
//!   tab and newline.
//! - Objects whose keys are field names become template objects, on which a
//!   field that does not exist is an error, like a Go struct's; the maps
//!   docker keeps as Go maps (labels, networks, ports, …) stay maps.
//! - Functions besides Go's own: docker's `json`, `join`, `lower`, `upper`,
//!   `title`, `split` and `truncate`; `print`, `println`, `printf` and `len`
//!   replace gtmpl's ([`funcs`]).
//! - gtmpl prints lists and maps in Rust's debug form, so every action that
//!   prints is piped through `_go`, which prints them as Go does (`[a b]`,
//!   `map[k:v]`). gtmpl also loops forever or panics on some bad input, so
//!   [`guard`] checks the text first and refuses what gtmpl cannot run.
//!
//! Limits: ranging over a map visits keys in no set order (Go sorts them);
//! `define`, `template`, `block` and `range … else` are refused.

use anyhow::Result;
use gtmpl::{Context, Template, Value};
use std::collections::HashMap;

mod funcs;
pub use funcs::LABELS_KEY;
mod guard;

/// What `--format` asked for.
pub enum Format<'a> {
    /// The command's own JSON.
    Json,
    /// A Go template, printed as a table (header and aligned columns) or not.
    Template { template: &'a str, table: bool },
}

impl<'a> Format<'a> {
    /// `arg` as given; `table` alone means the command's `default_table`.
    pub fn parse(arg: &'a str, default_table: &'a str) -> Format<'a> {
        let t = arg.trim();
        if t == "json" {
            return Format::Json;
        }
        // An empty format is the default, as docker takes it.
        if t.is_empty() {
            return Format::Template {
                template: default_table,
                table: true,
            };
        }
        let (table, template) = match t.strip_prefix("table") {
            Some("") => (true, default_table),
            Some(rest) if rest.starts_with(char::is_whitespace) => (true, rest.trim_start()),
            _ => (false, arg),
        };
        Format::Template { template, table }
    }
}

/// Keys whose object values are Go maps in docker's structs (any key
/// allowed), not structs (only known fields).
const MAP_FIELDS: &[&str] = &[
    "Labels",
    "Networks",
    "Ports",
    "Data",
    "StorageOpt",
    "ExposedPorts",
    "Volumes",
    "Options",
    "Annotations",
    funcs::LABELS_KEY,
];

/// Keys whose values are Go slices in docker's structs: a null there is a
/// nil slice, which Go prints as `[]` (and `{{json}}` as `null`), where a
/// null elsewhere is a nil pointer or interface, printed `<nil>`.
const SLICE_FIELDS: &[&str] = &[
    "Entrypoint",
    "Cmd",
    "Env",
    "Args",
    "Binds",
    "CapAdd",
    "CapDrop",
    "ExtraHosts",
    "SecurityOpt",
    "VolumesFrom",
    "Ulimits",
    "Links",
    "GroupAdd",
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "Aliases",
    "Mounts",
    "OnBuild",
    "Shell",
    "RepoTags",
    "RepoDigests",
    "Layers",
    "Log",
    "EffectiveCaps",
    "BoundingCaps",
];

/// A nil Go slice: an empty template object, which no JSON value becomes
/// (an empty JSON object is a Go map: [`convert`] makes it a map). Like a
/// nil slice it is false, has no length and ranges over nothing; the
/// printing functions tell it from an empty list ([`funcs::go_text`]).
pub fn nil_slice() -> Value {
    Value::Object(HashMap::new())
}

/// Whether `v` is [`nil_slice`].
pub fn is_nil_slice(v: &Value) -> bool {
    matches!(v, Value::Object(o) if o.is_empty())
}

/// A nil Go map: an empty template map that has room for an entry, where
/// every other empty map (an empty JSON object, [`convert`]) has none. It
/// is an empty map in every way (false, no length, ranges over nothing,
/// `<no value>` at any key, printed `map[]`) but `{{json}}`, which prints
/// it `null` as Go's encoding/json prints a nil map. gtmpl keeps values
/// as they are and clones them (a clone keeps the room): were the room
/// ever lost, the map would print `{}`, an empty map's JSON.
pub fn nil_map() -> Value {
    Value::Map(HashMap::with_capacity(1))
}

/// Whether `v` is [`nil_map`].
pub fn is_nil_map(v: &Value) -> bool {
    matches!(v, Value::Map(m) if m.is_empty() && m.capacity() > 0)
}

/// A JSON value as a template value.
pub fn to_value(v: &serde_json::Value) -> Value {
    convert(v, "")
}

/// `v`, the value of field `key` ("" at the top).
fn convert(v: &serde_json::Value, key: &str) -> Value {
    use serde_json::Value as J;
    match v {
        // A nil slice prints `[]` in Go, any other nil `<nil>`.
        J::Null if SLICE_FIELDS.contains(&key) => nil_slice(),
        // A nil map prints `map[]`, has no length, ranges over nothing and
        // gives the zero value at `index`, as an empty one; `{{json}}`
        // prints it `null` ([`nil_map`]).
        J::Null if MAP_FIELDS.contains(&key) => nil_map(),
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(u),
            (_, Some(i), _) => Value::from(i),
            (_, _, f) => Value::from(f.unwrap_or(0.0)),
        },
        J::String(s) => Value::String(s.clone()),
        J::Array(a) => Value::Array(a.iter().map(|x| convert(x, "")).collect()),
        J::Object(o) => {
            let fields: HashMap<String, Value> =
                o.iter().map(|(k, x)| (k.clone(), convert(x, k))).collect();
            // A Go struct always has fields: an empty object is a map.
            if MAP_FIELDS.contains(&key) || fields.is_empty() {
                Value::Map(fields)
            } else {
                Value::Object(fields)
            }
        }
    }
}

/// A parsed `--format` template with docker's functions.
pub struct Formatter {
    template: Template,
}

impl Formatter {
    pub fn new(text: &str) -> Result<Formatter> {
        let text = text.replace("\\t", "\t").replace("\\n", "\n");
        let text = guard::print_as_go(&text)?;
        let mut template = Template::default();
        template.add_funcs(funcs::FUNCS);
        template
            .parse(text)
            .map_err(|e| anyhow::anyhow!("bad --format template: {e}"))?;
        Ok(Formatter { template })
    }

    /// `inspect`'s `--format`: `json` (or nothing) prints the objects as
    /// JSON, anything else is a template run on each.
    pub fn for_inspect(arg: &str) -> Result<Option<Formatter>> {
        match arg.trim() {
            "" | "json" => Ok(None),
            _ => Formatter::new(arg).map(Some),
        }
    }

    /// The template run on one value.
    pub fn render(&self, v: &Value) -> Result<String> {
        self.template
            .render(&Context::from(v.clone()))
            .map_err(|e| {
                // gtmpl's message about a missing field dumps the whole object.
                let e = e.to_string();
                let e = match e.find("no field ") {
                    Some(at) => e[at..].split(" for ").next().unwrap_or(&e).to_string(),
                    None => e,
                };
                anyhow::anyhow!("template: {e}")
            })
    }
}

/// Prints `rows` (JSON objects) with `template`; as a table, first the
/// template run on `headers` (field name to column title; none without
/// `headers`, for `--noheading`), then columns.
pub fn print_rows(
    template: &str,
    table: bool,
    headers: &[(&str, &str)],
    rows: &[serde_json::Value],
) -> Result<()> {
    print_rows_headed(template, table, true, headers, rows)
}

/// [`print_rows`], where a table has its heading line only if `heading`
/// (podman's `--noheading` leaves it out; the columns stay aligned).
pub fn print_rows_headed(
    template: &str,
    table: bool,
    heading: bool,
    headers: &[(&str, &str)],
    rows: &[serde_json::Value],
) -> Result<()> {
    let f = Formatter::new(template)?;
    let mut lines = Vec::new();
    if table && heading && !headers.is_empty() {
        let mut h: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        // `.Label "KEY"`'s header is empty.
        h.insert(funcs::LABELS_KEY.into(), serde_json::json!({}));
        lines.push(f.render(&to_value(&serde_json::Value::Object(h)))?);
    }
    for r in rows {
        lines.push(f.render(&to_value(r))?);
    }
    if table {
        let cells: Vec<Vec<String>> = lines
            .iter()
            .flat_map(|l| l.split('\n'))
            .map(|l| l.split('\t').map(String::from).collect())
            .collect();
        print_columns(&cells);
    } else {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(())
}

/// docker's text of labels in listings: `a=1,b=2`.
pub fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(",")
}

/// Prints a fixed-width table, as [`print_columns`] does.
pub fn print_table<const N: usize>(rows: &[[String; N]]) {
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.to_vec()).collect();
    print_columns(&rows);
}

/// Prints rows in columns separated by at least three spaces, as docker does.
pub fn print_columns(rows: &[Vec<String>]) {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; n];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in rows {
        let mut line = String::new();
        for (k, c) in r.iter().enumerate() {
            if k + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}   ", w = widths[k]));
            }
        }
        println!("{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str, v: serde_json::Value) -> Result<String> {
        Formatter::new(t)?.render(&to_value(&v))
    }

    #[test]
    fn fields_maps_and_functions() {
        let v = serde_json::json!({
            "Id": "abc", "State": {"Pid": 42, "Running": true, "Error": null},
            "Config": {"Labels": {"a.b": "x"}, "Env": ["A=1", "B=2"], "Entrypoint": null, "Cmd": []},
            "HostConfig": {"PortBindings": {}, "Tmpfs": {}},
            "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}},
        });
        let cases = [
            ("{{.Id}}", "abc"),
            ("{{.State.Pid}} {{.State.Running}}", "42 true"),
            // Nulls as Go prints them: a nil pointer or interface `<nil>`,
            // a nil slice `[]` (as an empty one, but `null` in JSON).
            ("[{{.State.Error}}]", "[<nil>]"),
            ("{{json .State.Error}}", "null"),
            ("{{.Config.Entrypoint}}", "[]"),
            ("{{json .Config.Entrypoint}}", "null"),
            ("{{json .Config.Cmd}} {{.Config.Cmd}}", "[] []"),
            (
                "{{len .Config.Entrypoint}}{{if .Config.Entrypoint}}x{{end}}{{range .Config.Entrypoint}}y{{end}}",
                "0",
            ),
            (r#"[{{join .Config.Entrypoint ","}}]"#, "[]"),
            ("{{printf \"%v\" .Config.Entrypoint}}", "[]"),
            // An empty JSON object is a Go map.
            ("{{.HostConfig.PortBindings}} {{json .HostConfig.Tmpfs}}", "map[] {}"),
            (r#"{{index .Config.Labels "a.b"}}"#, "x"),
            (r#"{{join .Config.Env ","}}"#, "A=1,B=2"),
            ("{{range .Config.Env}}{{.}};{{end}}", "A=1;B=2;"),
            (
                r#"{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}"#,
                "8080",
            ),
            ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
            ("{{json .State}}", r#"{"Error":null,"Pid":42,"Running":true}"#),
            (
                "{{upper .Id}}|{{title .Id}}|{{truncate .Id 2}}",
                "ABC|Abc|ab",
            ),
            (r"{{.Id}}\t{{.Id}}", "abc\tabc"),
            // Lists and maps print as Go prints them.
            ("{{.Config.Env}}", "[A=1 B=2]"),
            ("{{.Config.Labels}}", "map[a.b:x]"),
            ("{{- .Config.Env -}}", "[A=1 B=2]"),
            ("{{$e := .Config.Env}}{{$e}}", "[A=1 B=2]"),
            (
                "{{range $i, $e := .Config.Env}}{{$i}}{{$e}}{{end}}",
                "0A=11B=2",
            ),
            (r#"{{with .Config}}{{index .Labels "a.b"}}{{end}}"#, "x"),
            ("{{/* a comment */}}{{if eq .Id \"abc\"}}yes{{end}}", "yes"),
        ];
        for (t, want) in cases {
            assert_eq!(run(t, v.clone()).unwrap(), want, "{t}");
        }
        // A field that does not exist is an error (a struct's), a missing
        // map key is not.
        let e = run("{{.Nope}}", v.clone()).unwrap_err().to_string();
        assert_eq!(e, "template: no field Nope", "{e}");
        assert!(run("{{.Config.Labels.zz}}", v.clone()).is_ok());
    }

    /// A null where docker's struct has a map is a nil map: empty in
    /// every way, but `null` in JSON as Go's encoding/json prints it (an
    /// empty object stays `{}`), through `with`, variables and `index`.
    #[test]
    fn nil_maps() {
        let v = serde_json::json!({
            "Config": {"Labels": null, "Volumes": null, "Env": null},
            "HostConfig": {"Tmpfs": {}},
        });
        let cases = [
            (
                "{{json .Config.Labels}} {{json .Config.Volumes}}",
                "null null",
            ),
            ("{{with .Config}}{{json .Labels}}{{end}}", "null"),
            ("{{$l := .Config.Labels}}{{json $l}}", "null"),
            ("{{$c := .Config}}{{json $c.Labels}}", "null"),
            ("{{.Config.Labels}} {{len .Config.Labels}}", "map[] 0"),
            (
                "{{if .Config.Labels}}x{{end}}{{range .Config.Labels}}y{{end}}",
                "",
            ),
            (r#"[{{index .Config.Labels "a"}}]"#, "[]"),
            ("{{json .HostConfig.Tmpfs}} {{json .Config.Env}}", "{} null"),
            (
                "{{json .Config}}",
                r#"{"Env":null,"Labels":null,"Volumes":null}"#,
            ),
        ];
        for (t, want) in cases {
            assert_eq!(run(t, v.clone()).unwrap(), want, "{t}");
        }
    }

    #[test]
    fn unclosed_actions_are_refused_not_looped_on() {
        for t in [
            "{{ .Id ",
            "x {{",
            r#"{{ printf "}}" "#,
            "{{/* }} */",
            "{{.Id}} {{ .",
        ] {
            let e = Formatter::new(t).err().map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains("unclosed")),
                "{t}: {e:?}"
            );
        }
        for t in ["{{.Id}}", r#"{{ "{{" }}"#, "{{/* c */}}", "}} {{.Id}}"] {
            assert!(guard::actions(t).is_ok(), "{t}");
        }
    }

    #[test]
    fn format_argument() {
        let d = "{{.A}}\t{{.B}}";
        assert!(matches!(Format::parse("json", d), Format::Json));
        assert!(
            matches!(Format::parse(" ", d), Format::Template { template, table: true } if template == d)
        );
        assert!(
            matches!(Format::parse("table", d), Format::Template { template, table: true } if template == d)
        );
        assert!(matches!(
            Format::parse("table {{.A}}", d),
            Format::Template {
                template: "{{.A}}",
                table: true
            }
        ));
        assert!(matches!(
            Format::parse("{{.A}}", d),
            Format::Template {
                template: "{{.A}}",
                table: false
            }
        ));
        assert!(matches!(
            Format::parse("tablex", d),
            Format::Template {
                template: "tablex",
                table: false
            }
        ));
    }
}
