//! `rless logs [-f] [--tail N] [--since T] [--until T] [-t] [--names] [--details] (-l | CONTAINER…)`
//! (`--details` is accepted and changes nothing, as podman's.)
//!
//! Several containers (podman's, as podman-compose 1.0 asks): each line is
//! prefixed with its container's short id (its name with `--names`), the
//! history of all of them merged in time order, and `-f` follows them all
//! until every one has ended.

use super::Ctx;
use anyhow::{anyhow, Result};
use rless::container::{self, logs, since};
use rless::image::store::LockMode;
use rless::image::time;
use std::io::Write;
use std::process::ExitCode;

/// The options `logs` and `pod logs` share: which lines, and how.
/// (`pod logs` words the help of some for a pod: see its `LogsArgs`.)
#[derive(clap::Args)]
pub struct Lines {
    /// Keep printing new output until the container stops.
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines ("all" for every line).
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Only lines since a time: RFC 3339 (local without a zone), a date,
    /// unix seconds, or a duration before now (10s, 1h30m, 1.5h).
    #[arg(long, allow_hyphen_values = true)]
    since: Option<String>,
    /// Only lines up to a time (the same forms as --since).
    #[arg(long, allow_hyphen_values = true)]
    until: Option<String>,
    /// Prefix each line with its time stamp.
    #[arg(short, long)]
    timestamps: bool,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    lines: Lines,
    /// Colour each container's name prefix (podman's; one container is
    /// shown without a prefix, so nothing changes: podman-compose passes it).
    #[arg(long)]
    color: bool,
    /// With several containers, prefix lines with the container's name
    /// instead of its short id (podman's).
    #[arg(long)]
    names: bool,
    /// Accepted, as podman's for its k8s-file logs: there are no extra
    /// attributes to show (rless takes no `--log-opt labels`/`env`).
    #[arg(long)]
    details: bool,
    #[command(flatten)]
    latest: super::latest::Latest,
    #[arg(required_unless_present = "latest")]
    containers: Vec<String>,
}

impl Args {
    /// `pod logs`'s: the logs of `containers` (several: each line after
    /// its container's short id, its name with `names`).
    pub fn of_pod(containers: Vec<String>, lines: Lines, names: bool) -> Args {
        Args {
            lines,
            color: false,
            names,
            details: false,
            latest: Default::default(),
            containers,
        }
    }
}

/// A time argument (see [`since`]) read against the clock and the local
/// zone now, in nanoseconds since the epoch.
pub(super) fn time_value(value: &str) -> Option<i128> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    since::parse(value, now, time::local_offset_of_wall_time)
}

/// The `--since` and `--until` values given (`logs`, `events`).
pub(super) fn time_range(
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(Option<i128>, Option<i128>)> {
    Ok((
        since.map(|v| parse_time("--since", v)).transpose()?,
        until.map(|v| parse_time("--until", v)).transpose()?,
    ))
}

/// Parses a --since or --until value.
fn parse_time(flag: &str, value: &str) -> Result<i128> {
    time_value(value).ok_or_else(|| {
        anyhow!("invalid {flag} {value:?}: use a duration (10m, 1h30m), a date or time (2006-01-02, 2006-01-02T15:04:05[.999][Z|+07:00]) or unix seconds")
    })
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let _ = a.details;
    let tail = match a.lines.tail.as_str() {
        "all" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| anyhow::anyhow!("invalid --tail {n:?}"))?,
        ),
    };
    let (since, until) = time_range(a.lines.since.as_deref(), a.lines.until.as_deref())?;
    let wanted = |l: &logs::LogLine| {
        let t = l.nanos();
        since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
    };
    let names = a.latest.or_names(ctx, &a.containers)?;
    let store = ctx.store(LockMode::Shared)?;
    let mut found = Vec::new();
    for q in &names {
        found.push(container::find(&store, q)?);
    }
    drop(store);
    for (c, _) in &found {
        if !c.host_config.log_config.readable() {
            anyhow::bail!(
                "configured logging driver does not support reading: container {} logs to {}",
                c.name,
                c.host_config.log_config.driver
            );
        }
    }
    let multi = found.len() > 1;
    // One reader per container from the log's beginning to the
    // container's end: the lines printed at first are the ones `-f` goes
    // on from, none read twice, none lost to a rotation.
    let mut logs: Vec<(Option<String>, std::path::PathBuf, logs::Follower)> = found
        .into_iter()
        .map(|(c, dir)| {
            let prefix = multi.then(|| match a.names {
                true => c.name.clone(),
                false => c.id.short().to_string(),
            });
            let log = logs::Follower::with_history(&dir);
            (prefix, dir, log)
        })
        .collect();
    // The history: --tail per container, then all in time order.
    let mut first: Vec<(i128, usize, logs::LogLine)> = Vec::new();
    for (i, (_, _, log)) in logs.iter_mut().enumerate() {
        let mut lines: Vec<logs::LogLine> = log.read_new().into_iter().filter(wanted).collect();
        if let Some(n) = tail {
            let skip = lines.len().saturating_sub(n);
            lines.drain(..skip);
        }
        first.extend(lines.into_iter().map(|l| (l.nanos(), i, l)));
    }
    first.sort_by_key(|(t, i, _)| (*t, *i));
    for (_, i, l) in first {
        print_prefixed(
            std::slice::from_ref(&l),
            a.lines.timestamps,
            logs[i].0.as_deref(),
        )?;
    }
    if a.lines.follow {
        let mut done = vec![false; logs.len()];
        while done.iter().any(|d| !d) {
            // The state first: an ended container's output is all logged
            // by the time its end is recorded, so the read after it has it
            // all.
            let states: Vec<bool> = logs
                .iter()
                .map(|(_, dir, _)| container::read_state(dir).live())
                .collect();
            std::thread::sleep(std::time::Duration::from_millis(100));
            for (i, (prefix, _, log)) in logs.iter_mut().enumerate() {
                if done[i] {
                    continue;
                }
                let new: Vec<logs::LogLine> = log.read_new().into_iter().filter(wanted).collect();
                print_prefixed(&new, a.lines.timestamps, prefix.as_deref())?;
                done[i] = !states[i];
            }
            let past_until = until.is_some_and(|u| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .is_ok_and(|d| d.as_nanos() as i128 > u)
            });
            if past_until {
                break;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn print_lines(lines: &[logs::LogLine], timestamps: bool) -> Result<()> {
    print_prefixed(lines, timestamps, None)
}

/// [`print_lines`], each line after `prefix` and a space (podman's logs of
/// several containers).
fn print_prefixed(lines: &[logs::LogLine], timestamps: bool, prefix: Option<&str>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for l in lines {
        let w: &mut dyn Write = if l.stream == logs::Stream::Stdout {
            &mut out
        } else {
            &mut err
        };
        if let Some(p) = prefix {
            write!(w, "{p} ")?;
        }
        if timestamps {
            write!(w, "{} ", l.time)?;
        }
        w.write_all(&l.text)?;
        if !l.partial {
            w.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}
