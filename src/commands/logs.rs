//! `rless logs [-f] [--tail N] [--since T] [-t] CONTAINER`

use super::Ctx;
use anyhow::{bail, Result};
use rless::container::{self, logs};
use rless::image::store::LockMode;
use rless::image::time;
use std::io::Write;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Keep printing new output until the container stops.
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines ("all" for every line).
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Only lines since a time: RFC 3339, unix seconds, or a duration (10s, 5m, 2h).
    #[arg(long)]
    since: Option<String>,
    /// Prefix each line with its time stamp.
    #[arg(short, long)]
    timestamps: bool,
    container: String,
}

/// Parses --since: RFC 3339, unix seconds or a relative duration.
fn parse_since(s: &str) -> Result<i64> {
    if let Some(t) = time::parse_rfc3339(s) {
        return Ok(t);
    }
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid --since {s:?}"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => bail!("invalid --since {s:?}: use RFC 3339, unix seconds, or 10s/5m/2h"),
    };
    Ok(time::now() - n * mult)
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let tail = match a.tail.as_str() {
        "all" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| anyhow::anyhow!("invalid --tail {n:?}"))?,
        ),
    };
    let since = a.since.as_deref().map(parse_since).transpose()?;
    let store = ctx.store(LockMode::Shared)?;
    let (_, dir) = container::find(&store, &a.container)?;
    drop(store);
    let mut lines: Vec<logs::LogLine> = logs::read_all(&dir)
        .into_iter()
        .filter(|l| since.is_none_or(|s| l.epoch >= s))
        .collect();
    if let Some(n) = tail {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut seen = lines.len();
    let mut printed_total = logs::read_all(&dir).len();
    print_lines(&lines, a.timestamps)?;
    if a.follow {
        loop {
            let state = container::read_state(&dir);
            std::thread::sleep(std::time::Duration::from_millis(100));
            let all = logs::read_all(&dir);
            // Rotation shrinks the set; start again from its end.
            if all.len() < printed_total {
                printed_total = 0;
            }
            print_lines(&all[printed_total..], a.timestamps)?;
            seen += all.len() - printed_total;
            printed_total = all.len();
            if !state.live() {
                break;
            }
        }
    }
    let _ = seen;
    Ok(ExitCode::SUCCESS)
}

fn print_lines(lines: &[logs::LogLine], timestamps: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for l in lines {
        let w: &mut dyn Write = if l.stream == logs::Stream::Stdout {
            &mut out
        } else {
            &mut err
        };
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
