//! `rless events [--since T] [--until T] [--filter KEY=VALUE]… [--format F]
//! [--stream=BOOL]`: what happened to containers, images, volumes and
//! networks, from the store's event log (see `rless::events`).
//!
//! As podman's: streaming (the default) without `--since` shows the events
//! from now on, until interrupted or `--until` passes; `--since` shows
//! those logged since then first; `--stream=false` prints what the log
//! holds (within `--since`/`--until`) and exits. Filters of one key are
//! alternatives, of different keys all apply (docker's rule): `container`
//! (name or id prefix), `event` (docker's `die` and `destroy` are podman's
//! `died` and `remove`), `image` (name or id prefix), `label` (`KEY` or
//! `KEY=VALUE`), `type`, `volume`, `network`.

use super::format::{to_value, Formatter};
use super::Ctx;
use anyhow::{anyhow, bail, Result};
use rless::events::{Event, Follower};
use rless::image::store::LockMode;
use std::collections::HashSet;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Show events since a time: a duration before now (10m, 1h30m), a date
    /// or time (2006-01-02, 2006-01-02T15:04:05[Z|+07:00]) or unix seconds.
    #[arg(long, allow_hyphen_values = true)]
    since: Option<String>,
    /// Show events up to a time (the same forms); a stream ends then.
    #[arg(long, allow_hyphen_values = true)]
    until: Option<String>,
    /// KEY=VALUE: container, event, image, label, type, volume, network or pod.
    #[arg(short, long = "filter")]
    filters: Vec<String>,
    /// json, or a Go template such as '{{.Status}} {{.Name}}'.
    #[arg(long)]
    format: Option<String>,
    /// Keep printing events as they happen (false: print the log and exit).
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    stream: bool,
    /// Accepted for docker compatibility (ids are printed whole).
    #[arg(long)]
    no_trunc: bool,
}

/// The filter keys, as `--filter` names them.
const KEYS: &[&str] = &[
    "container",
    "event",
    "image",
    "label",
    "type",
    "volume",
    "network",
    "pod",
];

/// The `--filter`s, by key.
struct Filters(Vec<(String, String)>);

impl Filters {
    fn parse(args: &[String]) -> Result<Filters> {
        let mut out = Vec::new();
        for f in args {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| anyhow!("invalid filter {f:?}: use KEY=VALUE"))?;
            if !KEYS.contains(&k) {
                bail!("invalid filter {k:?}: use one of {}", KEYS.join(", "));
            }
            if k == "type" && !["container", "image", "volume", "network", "pod"].contains(&v) {
                bail!("invalid filter type {v:?}: use container, image, volume, network or pod");
            }
            out.push((k.to_string(), v.to_string()));
        }
        Ok(Filters(out))
    }

    fn matches(&self, ev: &Event) -> bool {
        KEYS.iter().all(|key| {
            let mut values = self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
            let mut any = false;
            let hit = values.any(|v| {
                any = true;
                matches_one(key, v, ev)
            });
            hit || !any
        })
    }
}

/// Whether `ev` passes filter `key=v`.
fn matches_one(key: &str, v: &str, ev: &Event) -> bool {
    let attr = |k: &str| ev.attributes.as_ref().and_then(|a| a.get(k));
    match key {
        "type" => ev.kind == v,
        "event" => {
            let v = match v {
                "die" => "died",
                "destroy" | "delete" => "remove",
                other => other,
            };
            ev.status == v
        }
        "container" => ev.kind == "container" && (ev.name == v || id_prefix(&ev.id, v)),
        "image" => {
            let name = if ev.kind == "image" {
                &ev.name
            } else {
                &ev.image
            };
            same_image_name(name, v) || (ev.kind == "image" && id_prefix(&ev.id, v))
        }
        "label" => match v.split_once('=') {
            Some((k, want)) => attr(k).is_some_and(|x| x == want),
            None => attr(v).is_some(),
        },
        "volume" => ev.kind == "volume" && ev.name == v,
        "network" => ev.kind == "network" && ev.name == v,
        "pod" => ev.kind == "pod" && ev.name == v,
        _ => false,
    }
}

fn id_prefix(id: &str, v: &str) -> bool {
    let v = v.strip_prefix("sha256:").unwrap_or(v);
    !v.is_empty() && !id.is_empty() && id.starts_with(v)
}

/// `busybox` names `docker.io/library/busybox:latest`, and
/// `localhost/busybox:latest` (what `tag`, `build -t`, `commit` name it):
/// each name a local look-up of a short name tries.
fn same_image_name(stored: &str, v: &str) -> bool {
    if stored.is_empty() {
        return false;
    }
    stored == v
        || rless::image::shortnames::configured()
            .local_candidates(v)
            .iter()
            .any(|r| r.to_string() == stored || r.name() == stored)
}

fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// How events are printed.
enum Output {
    /// podman's line: time, type, status, id, attributes.
    Line,
    Json,
    Template(Formatter),
}

impl Output {
    fn text(&self, ev: &Event) -> Result<String> {
        match self {
            Output::Line => Ok(line(ev)),
            Output::Json => {
                let mut v = serde_json::to_value(ev)?;
                if let Some(o) = v.as_object_mut() {
                    o.remove("timeNano");
                }
                Ok(v.to_string())
            }
            Output::Template(f) => f.render(&to_value(&template_fields(ev))),
        }
    }
}

/// podman's fields, and docker's (`Action`, `Actor`, `TimeNano`…).
fn template_fields(ev: &Event) -> serde_json::Value {
    let attrs = ev.attributes.clone().unwrap_or_default();
    serde_json::json!({
        "ID": ev.id, "Image": ev.image, "Name": ev.name, "Status": ev.status,
        "Time": ev.time, "Type": ev.kind, "Attributes": attrs,
        "ContainerExitCode": ev.exit_code.unwrap_or(0),
        "Action": ev.status, "From": ev.image, "Scope": "local",
        "Actor": {"ID": if ev.id.is_empty() { &ev.name } else { &ev.id }, "Attributes": attrs},
        "TimeNano": ev.time_nano,
    })
}

/// podman's line for an event:
/// `2006-01-02 15:04:05.999999999 -0700 MST container start ID (image=…, name=…)`.
fn line(ev: &Event) -> String {
    let zone = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
    let when = jiff::Timestamp::from_nanosecond(i128::from(ev.time_nano))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(zone)
        .strftime("%Y-%m-%d %H:%M:%S%.f %z %Z")
        .to_string();
    let mut out = format!("{when} {} {}", ev.kind, ev.status);
    match ev.kind.as_str() {
        "container" => {
            out.push(' ');
            out.push_str(&ev.id);
            let attrs = ev.attributes.clone().unwrap_or_default();
            // image and name first, as podman prints them.
            let mut parts = vec![format!("image={}", ev.image), format!("name={}", ev.name)];
            parts.extend(
                attrs
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "image" | "name"))
                    .map(|(k, v)| format!("{k}={v}")),
            );
            out.push_str(&format!(" ({})", parts.join(", ")));
        }
        "image" => out.push_str(&format!(" {} {}", ev.id, ev.name)),
        _ => out.push_str(&format!(" {}", ev.name)),
    }
    rless::message::printable(&out)
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let _ = a.no_trunc;
    let filters = Filters::parse(&a.filters)?;
    let (since, until) = super::logs::time_range(a.since.as_deref(), a.until.as_deref())?;
    let output = match a.format.as_deref().map(str::trim) {
        None | Some("") => Output::Line,
        Some("json") => Output::Json,
        Some(t) => Output::Template(Formatter::new(t)?),
    };
    let root = ctx.store(LockMode::Shared)?.root().to_path_buf();
    let within = |ev: &Event| {
        let t = i128::from(ev.time_nano);
        since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
    };
    let mut out = std::io::stdout().lock();
    // Made before the log is read, so nothing logged in between is missed;
    // what both see is printed once.
    let mut follower = a.stream.then(|| Follower::new(&root));
    let mut printed = HashSet::new();
    if !a.stream || since.is_some() {
        for ev in rless::events::read_all(&root) {
            if within(&ev) && filters.matches(&ev) {
                if writeln!(out, "{}", output.text(&ev)?).is_err() {
                    return Ok(ExitCode::SUCCESS);
                }
                printed.insert(ev.time_nano);
            }
        }
    }
    let Some(follower) = follower.as_mut() else {
        return Ok(ExitCode::SUCCESS);
    };
    let _ = out.flush();
    loop {
        if until.is_some_and(|u| now_nanos() > u) {
            return Ok(ExitCode::SUCCESS);
        }
        for ev in follower.poll() {
            if printed.remove(&ev.time_nano) || !within(&ev) || !filters.matches(&ev) {
                continue;
            }
            if writeln!(out, "{}", output.text(&ev)?)
                .and_then(|()| out.flush())
                .is_err()
            {
                return Ok(ExitCode::SUCCESS);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, status: &str, id: &str, name: &str, image: &str) -> Event {
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert("app".to_string(), "web".to_string());
        Event {
            id: id.into(),
            name: name.into(),
            image: image.into(),
            status: status.into(),
            kind: kind.into(),
            attributes: Some(attrs),
            ..Default::default()
        }
    }

    fn f(list: &[&str]) -> Filters {
        Filters::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn filters_of_one_key_are_alternatives_of_different_keys_all_apply() {
        let died = ev(
            "container",
            "died",
            "abc123",
            "c1",
            "docker.io/library/busybox:latest",
        );
        let start = ev(
            "container",
            "start",
            "abc123",
            "c1",
            "docker.io/library/busybox:latest",
        );
        let other = ev("container", "died", "def456", "c2", "x:1");
        let both = f(&["event=die", "event=start", "container=abc"]);
        assert!(both.matches(&died) && both.matches(&start) && !both.matches(&other));
        assert!(f(&["image=busybox"]).matches(&died));
        assert!(!f(&["image=busybox"]).matches(&other));
        // A short name given to tag, build -t or commit is localhost's.
        let local = ev("container", "died", "abc123", "c1", "localhost/app:1");
        assert!(f(&["image=app:1"]).matches(&local));
        assert!(f(&["image=localhost/app:1"]).matches(&local));
        assert!(!f(&["image=docker.io/app:1"]).matches(&local));
        assert!(f(&["label=app=web", "type=container"]).matches(&other));
        assert!(!f(&["label=app=db"]).matches(&other));
        assert!(f(&["container=c2"]).matches(&other));
        let img = ev(
            "image",
            "pull",
            "0123ab",
            "docker.io/library/busybox:latest",
            "",
        );
        assert!(f(&["image=0123", "type=image"]).matches(&img));
        assert!(!f(&["container=0123"]).matches(&img));
        assert!(Filters::parse(&["colour=red".to_string()]).is_err());
        assert!(Filters::parse(&["type=bogus".to_string()]).is_err());
        assert!(Filters::parse(&["event".to_string()]).is_err());
    }

    #[test]
    fn lines_read_as_podmans() {
        let mut e = ev("container", "create", "abc", "c1", "img:1");
        e.time_nano = 1_600_000_000_120_000_000;
        let l = line(&e);
        assert!(
            l.ends_with(" container create abc (image=img:1, name=c1, app=web)"),
            "{l}"
        );
        let i = ev("image", "untag", "0123", "x:1", "");
        assert!(line(&i).ends_with(" image untag 0123 x:1"), "{}", line(&i));
    }
}
